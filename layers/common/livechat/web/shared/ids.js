/* livechat.ids — the ids a page makes up: requestId, clientMessageId, clientConversationId
 * (protocol: letters, digits and "-", at most 128 characters). */
let counter = 0;

livechat.ids = {
  newId(prefix) {
    counter++;
    const rnd = (crypto.randomUUID ? crypto.randomUUID() : Math.random().toString(36).slice(2)).replace(/-/g, "");
    return prefix + "-" + rnd.slice(0, 16) + "-" + counter;
  },
};
