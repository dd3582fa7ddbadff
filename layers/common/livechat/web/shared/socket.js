/* livechat.socket — the page's WebSocket to the API: connect, reconnect with backoff (also
 * when the browser comes back online), a ping after 4.5 minutes without a frame of our own
 * (API Gateway closes sockets idle for 10; during a chat the frames we send keep it open, and
 * a ping is a billed frame each way and an invocation), and request/answer: a frame sent
 * with a requestId is answered by the frame that carries the same requestId. Protocol:
 * docs/protocol.md. */
const PING_MS = 4.5 * 60 * 1000;
const MAX_BACKOFF_MS = 30000;

livechat.socket = {
  /* create({url, onOpen, onFrame, onAnswer, onClose}) → {start, stop, send, request, isOpen, hasSocket}
   *   url():           the URL to open (may be async); null: try again after the backoff
   *   onOpen():        the socket opened
   *   onFrame(frame):  a frame that answers no request of ours
   *   onAnswer(frame): an answer, before its request's promise resolves (optional)
   *   onClose(opened): the socket closed (opened: whether it ever opened); the reconnect waits
   *                    for it when it returns a promise (optional) */
  create(options) {
    const { newId } = livechat.ids;
    const pending = new Map(); // requestId -> {resolve, reject}
    let ws = null, wsOpen = false, connecting = false, stopped = true;
    let attempts = 0, pingTimer = null, reconnectTimer = null;

    function send(frame) {
      if (ws && wsOpen) { ws.send(JSON.stringify(frame)); keepAlive(); return true; }
      return false;
    }

    // The next ping: PING_MS after the last frame sent, whatever it was.
    function keepAlive() {
      clearTimeout(pingTimer);
      pingTimer = setTimeout(() => send({ action: "ping", requestId: newId("ping") }), PING_MS);
    }

    // The answer frame; rejected with Error("disconnected") when the socket is not open or
    // closes before the answer comes.
    function request(frame) {
      return new Promise((resolve, reject) => {
        const requestId = newId("r");
        pending.set(requestId, { resolve, reject });
        if (!send(Object.assign({}, frame, { requestId }))) { pending.delete(requestId); reject(new Error("disconnected")); }
      });
    }

    async function connect() {
      clearTimeout(reconnectTimer);
      if (stopped || ws || connecting) return;
      connecting = true;
      let url = null;
      try { url = await options.url(); } catch (e) { url = null; } finally { connecting = false; }
      if (stopped) return;
      if (!url) { scheduleReconnect(); return; }
      if (ws) return;
      const socket = new WebSocket(url);
      ws = socket;
      let opened = false;
      socket.onopen = () => {
        opened = true; wsOpen = true; attempts = 0;
        keepAlive();
        options.onOpen();
      };
      socket.onmessage = (ev) => {
        let frame;
        try { frame = JSON.parse(ev.data); } catch (e) { return; }
        const waiter = frame.requestId && pending.get(frame.requestId);
        if (waiter) {
          pending.delete(frame.requestId);
          if (options.onAnswer) options.onAnswer(frame);
          waiter.resolve(frame);
          return;
        }
        options.onFrame(frame);
      };
      socket.onclose = async () => {
        if (ws !== socket) return;
        ws = null; wsOpen = false;
        clearTimeout(pingTimer);
        for (const [, w] of pending) w.reject(new Error("disconnected"));
        pending.clear();
        if (stopped) return;
        if (options.onClose) await options.onClose(opened);
        scheduleReconnect();
      };
    }

    function scheduleReconnect() {
      clearTimeout(reconnectTimer);
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempts) * (0.75 + Math.random() * 0.5);
      attempts++;
      reconnectTimer = setTimeout(connect, delay);
    }

    // Connect now (a no-op while connecting or connected), and keep reconnecting until stop().
    function start() {
      stopped = false;
      connect();
    }

    // Close for good (sign-out): no reconnect until start().
    function stop() {
      stopped = true;
      clearTimeout(reconnectTimer); clearTimeout(pingTimer);
      if (ws) { const s = ws; ws = null; wsOpen = false; s.close(); }
    }

    window.addEventListener("online", () => { if (!ws && !stopped) { attempts = 0; connect(); } });

    return { start, stop, send, request, isOpen: () => wsOpen, hasSocket: () => !!ws };
  },
};
