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

const [url, jobsArg] = process.argv.slice(2);
const nJobs = Number(jobsArg || 1);
const FIELDS = ["job_id", "network_id", "epoch", "total_epochs", "accuracy", "elapsed_time", "progress", "correct", "total"];
const ENDED = ["completed", "failed", "cancelled", "interrupted"];

function problems(u) {
  const bad = [];
  const keys = Object.keys(u);
  for (const k of keys) if (!FIELDS.includes(k)) bad.push(`unexpected field ${k}`);
  for (const k of FIELDS.slice(0, 7)) if (!keys.includes(k)) bad.push(`missing field ${k}`);
  if (typeof u.job_id !== "string" || !u.job_id) bad.push("job_id is not a non-empty string");
  if (typeof u.network_id !== "string" || !u.network_id) bad.push("network_id is not a non-empty string");
  if (!Number.isInteger(u.total_epochs) || u.total_epochs < 1) bad.push("total_epochs is not an int >= 1");
  if (!Number.isInteger(u.epoch) || u.epoch < 1 || u.epoch > u.total_epochs) bad.push("epoch is not in 1..total_epochs");
  if (!(typeof u.elapsed_time === "number" && Number.isFinite(u.elapsed_time) && u.elapsed_time >= 0)) bad.push("elapsed_time");
  if (!(typeof u.progress === "number" && Math.abs(u.progress - (100 * u.epoch) / u.total_epochs) < 1e-9)) bad.push("progress");
  if (u.accuracy !== null) {
    if (!(typeof u.accuracy === "number" && u.accuracy >= 0 && u.accuracy <= 1)) bad.push("accuracy is not in [0, 1]");
    if (!Number.isInteger(u.correct) || !Number.isInteger(u.total) || u.correct < 0 || u.correct > u.total) bad.push("correct/total");
    else if (Math.abs(u.accuracy - u.correct / u.total) > 1e-12) bad.push("accuracy != correct / total");
  }
  return bad;
}

const socket = io(url, {
  transports: ["websocket", "polling"],
  timeout: 20000,
  reconnection: true,
  reconnectionAttempts: 5,
  reconnectionDelay: 1000,
});
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
