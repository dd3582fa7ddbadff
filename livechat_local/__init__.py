"""The local stack: livechat's Lambda handlers on an embedded AWS emulator (moto)."""
