/* livechat.store — JSON values in localStorage or sessionStorage under one prefix. Storage
 * may be missing or full (private mode, blocked cookies): a read then gives null and a write
 * is dropped, never an error. */
livechat.store = {
  // open(() => localStorage, "livechat:https://…/:") → {get(name), set(name, value), del(name)}
  open(storage, prefix) {
    return {
      get(name) { try { return JSON.parse(storage().getItem(prefix + name) || "null"); } catch (e) { return null; } },
      set(name, value) { try { storage().setItem(prefix + name, JSON.stringify(value)); } catch (e) { /* private mode */ } },
      del(name) { try { storage().removeItem(prefix + name); } catch (e) { /* ignore */ } },
    };
  },
};
