// N socket.io-client v4 websocket clients that timestamp every training_update on receipt.
//
//   node bench_clients.mjs URL N
//
// Prints {"ready": N} once all are connected. On the stdin line "dump" prints
// {"receipts": {job_id: [[epoch, t_ms], ...]}} (t_ms: wall clock, sub-millisecond) and exits.
// socket.io-client comes from tests/js (installed by `npm ci --prefix tests/js`).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import readline from "node:readline";

const require = createRequire(fileURLToPath(new URL("../../tests/js/package.json", import.meta.url)));
const { io } = require("socket.io-client");

const [url, nArg] = process.argv.slice(2);
const n = Number(nArg || 1);
const receipts = {};
const sockets = [];
let connected = 0;
const now = () => performance.timeOrigin + performance.now();

for (let i = 0; i < n; i++) {
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: 20000 });
  sockets.push(socket);
  socket.on("connect", () => {
    connected += 1;
    if (connected === n) console.log(JSON.stringify({ ready: n }));
  });
  socket.on("connect_error", (err) => console.error(`connect_error: ${err.message}`));
  socket.on("training_update", (u) => {
    (receipts[u.job_id] ||= []).push([u.epoch, now()]);
  });
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "dump") {
    for (const s of sockets) s.disconnect();
    process.stdout.write(JSON.stringify({ receipts }) + "\n", () => process.exit(0));
  }
});
