// A socket.io-client v4 dashboard that reconnects with what it has seen.
//
//   node replay_client.mjs URL JOB_ID SINCE_EPOCH LAST_EPOCH
//
// It connects with auth: {since: {JOB_ID: SINCE_EPOCH}}, collects that job's
// training_update epochs until LAST_EPOCH arrives, and prints one JSON line:
// {"epochs": [...], "updates": [...]} (every update of the job, in arrival order).
import { io } from "socket.io-client";

const [url, jobId, since, last] = process.argv.slice(2);
const socket = io(url, {
  transports: ["websocket", "polling"],
  timeout: 20000,
  reconnection: false,
  auth: { since: { [jobId]: Number(since) } },
});
const updates = [];

socket.on("training_update", (update) => {
  if (update.job_id !== jobId) return;
  updates.push(update);
  if (update.epoch === Number(last)) {
    console.log(JSON.stringify({ epochs: updates.map((u) => u.epoch), updates }));
    socket.disconnect();
    setTimeout(() => process.exit(0), 50);
  }
});
socket.on("connect_error", (err) => {
  console.error(`connect_error: ${err.message}`);
  process.exit(2);
});

setTimeout(() => {
  console.error(`timed out with epochs ${JSON.stringify(updates.map((u) => u.epoch))}`);
  process.exit(3);
}, 60000).unref();
