// Bench only: Portkey's start-server.js listens on every interface (`serve({ fetch, port })`, no
// host option on its command line). Preloaded with `node --import`, this makes every TCP listen()
// of the process bind 127.0.0.1, so the peer gateway is reachable from this machine only.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (first, ...rest) {
  if (typeof first === "number") {
    if (typeof rest[0] === "string") rest.shift(); // a host given: replaced
    return listen.call(this, first, "127.0.0.1", ...rest);
  }
  if (first && typeof first === "object" && first.port !== undefined) {
    return listen.call(this, { ...first, host: "127.0.0.1" }, ...rest);
  }
  return listen.call(this, first, ...rest);
};
