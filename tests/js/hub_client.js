// A dashboard of a class hub: one socket.io-client v4 with exactly the options of the
// dashboard contract (seed-websocket-api.md), checking every training_update field.
//
//   node hub_client.js URL N_JOBS
//
// Prints {"ready": true, "transport": ...} once connected; once it has seen N_JOBS runs end
// (training_status completed, failed, cancelled or interrupted), one line
// {"done": true, "epochs": {job: [...]}, "statuses": {job: [[status, owner], ...]},
//  "problems": [...]} (epochs and statuses in arrival order), and exits.
import { io } from "socket.io-client";

import { SEED_OPTIONS, problems } from "./contract.mjs";

const [url, jobsArg] = process.argv.slice(2);
const nJobs = Number(jobsArg || 1);

const ENDED = ["completed", "failed", "cancelled", "interrupted"];

const socket = io(url, SEED_OPTIONS);
const epochs = {};
const statuses = {};
const found = [];
const ended = new Set();

function finish(extra) {
  const line = JSON.stringify({ done: true, epochs, statuses, problems: found.slice(0, 20), ...extra }) + "\n";
  socket.disconnect();
  // exit once the line is written: stdout to a pipe is asynchronous in Node
  process.stdout.write(line, () => process.exit(extra.timedOut ? 3 : 0));
}

socket.on("connect", () => {
  console.log(JSON.stringify({ ready: true, transport: socket.io.engine.transport.name }));
});
socket.on("connect_error", (err) => console.error(`connect_error: ${err.message}`));
socket.on("training_update", (u) => {
  for (const p of problems(u)) found.push(`${p}: ${JSON.stringify(u)}`);
  (epochs[u.job_id] ||= []).push(u.epoch);
});
socket.on("training_status", (s) => {
  (statuses[s.job_id] ||= []).push([s.status, s.owner ?? null]);
  if (ENDED.includes(s.status)) {
    ended.add(s.job_id);
    if (ended.size === nJobs) finish({});
  }
});

setTimeout(() => finish({ timedOut: true }), 150000).unref();
