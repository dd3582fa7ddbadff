/* livechat.widget.STYLE — the widget's styles, inside its shadow root (the host page's do not
 * apply there, and these do not leak out). */
livechat.widget.STYLE = `
  :host { all: initial; }
  * { box-sizing: border-box; }
  [hidden] { display: none !important; }
  .root { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2330; }
  .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 28px;
    background: #1d4ed8; color: #fff; font: 600 15px system-ui, sans-serif; padding: 14px 20px; cursor: pointer;
    box-shadow: 0 6px 20px rgba(0,0,0,.25); }
  .launcher:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
  .panel { position: fixed; right: 20px; bottom: 84px; z-index: 2147483000; width: 360px; max-width: calc(100vw - 40px);
    height: 540px; max-height: calc(100vh - 110px); background: #fff; border-radius: 14px; display: flex; flex-direction: column;
    box-shadow: 0 12px 40px rgba(0,0,0,.28); overflow: hidden; }
  .panel[hidden] { display: none; }
  header { background: #1d4ed8; color: #fff; padding: 12px 14px; display: flex; align-items: center; gap: 10px; }
  header .title { flex: 1; font-weight: 600; font-size: 15px; }
  header .sub { display: block; font-weight: 400; font-size: 12px; opacity: .9; }
  header button { background: rgba(255,255,255,.18); color: #fff; border: 0; border-radius: 6px; padding: 6px 9px; cursor: pointer; font: inherit; font-size: 12px; }
  .avatar { width: 34px; height: 34px; border-radius: 50%; background: #93c5fd; color: #1e3a8a; display: inline-flex;
    align-items: center; justify-content: center; font-weight: 700; overflow: hidden; flex: none; }
  .avatar img { width: 100%; height: 100%; object-fit: cover; }
  .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f6f7fb; }
  .msg { max-width: 85%; padding: 8px 11px; border-radius: 12px; white-space: pre-wrap; word-wrap: break-word; overflow-wrap: anywhere; }
  .msg.bot, .msg.agent { background: #fff; border: 1px solid #e3e6ef; align-self: flex-start; }
  .msg.visitor { background: #1d4ed8; color: #fff; align-self: flex-end; }
  .msg.pending { opacity: .6; }
  .msg.unsent { opacity: .6; }
  .unsent-note { display: block; font-size: 11px; font-style: italic; }
  .msg .who { display: block; font-size: 11px; font-weight: 600; opacity: .75; margin-bottom: 2px; }
  .note { align-self: center; font-size: 12px; color: #4b5563; text-align: center; padding: 2px 8px; }
  .note.status { color: #1d4ed8; font-weight: 600; }
  .choices { display: flex; flex-wrap: wrap; gap: 6px; }
  .choices button, .primary { border: 1px solid #1d4ed8; background: #fff; color: #1d4ed8; border-radius: 16px; padding: 6px 12px; cursor: pointer; font: inherit; }
  .choices button:hover, .primary:hover { background: #eff4ff; }
  .transcript-offer { align-self: center; display: flex; flex-direction: column; align-items: center; gap: 4px; }
  button[disabled] { opacity: .5; cursor: default; }
  form.capture { background: #fff; border: 1px solid #e3e6ef; border-radius: 12px; padding: 10px; display: flex; flex-direction: column; gap: 8px; }
  form.capture label { font-size: 12px; font-weight: 600; display: flex; flex-direction: column; gap: 3px; }
  form.capture input { font: inherit; padding: 6px 8px; border: 1px solid #c7cbd6; border-radius: 6px; }
  form.capture input[aria-invalid="true"] { border-color: #b91c1c; background: #fff5f5; }
  .field-error { color: #b91c1c; font-size: 12px; font-weight: 400; }
  .form-error { color: #b91c1c; font-size: 12px; }
  .typing { font-size: 12px; color: #6b7280; padding: 0 14px 4px; min-height: 18px; background: #f6f7fb; }
  .composer { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e3e6ef; background: #fff; }
  .composer[hidden] { display: none; }
  .composer textarea { flex: 1; resize: none; font: inherit; padding: 7px 9px; border: 1px solid #c7cbd6; border-radius: 8px; height: 38px; }
  .composer button { background: #1d4ed8; color: #fff; border: 0; border-radius: 8px; padding: 0 14px; cursor: pointer; font: inherit; font-weight: 600; }
  .conn { font-size: 11px; text-align: center; background: #fef3c7; color: #92400e; padding: 3px; }
  .conn[hidden] { display: none; }
  .sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
`;
