// One socket.io-client v4 client, with the dashboard contract's options, against a server
// that may require a token.
//
//   node token_client.mjs URL [TOKEN]
//
// With TOKEN it connects with auth: {token: TOKEN}. It prints one JSON line and exits:
// {"connected": true, "id": ..., "status": {...}} once connected and a training_status has
// arrived (the test trains a run after "ready"), or {"connected": false, "message": ...,
// "data": ...} when the server refuses the connection (connect_error).
import { io } from "socket.io-client";

const [url, token] = process.argv.slice(2);
const options = {
  transports: ["websocket", "polling"],
  timeout: 20000,
  reconnection: false,
};
if (token) options.auth = { token };
const socket = io(url, options);

function done(result) {
  console.log(JSON.stringify(result));
  socket.disconnect();
  setTimeout(() => process.exit(0), 50);
}

socket.on("connect", () => {
  console.log(JSON.stringify({ ready: true, id: socket.id }));
});
socket.on("training_status", (status) => {
  if (["completed", "failed", "cancelled"].includes(status.status)) {
    done({ connected: true, id: socket.id, transport: socket.io.engine.transport.name, status });
  }
});
socket.on("connect_error", (err) => {
  done({ connected: false, message: err.message, data: err.data === undefined ? null : err.data });
});

setTimeout(() => {
  console.error("timed out");
  process.exit(3);
}, 60000).unref();
