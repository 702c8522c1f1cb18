// Long-lived socket.io-client v4 clients for the soak test: they stay connected while the
// server is under load and record every disconnect and every epoch they receive.
//
//   node soak_clients.mjs URL N_WEBSOCKET N_POLLING
//
// Prints {"ready": true} once every client is connected. Reading a line {"finished": [job ids]}
// from stdin, it waits (up to 30 s) until every client has those jobs' final status, then
// prints one summary line and exits: for each client its transport, its disconnects
// ({at, reason}) and, for each job, the epochs it received and the job's status events.
// Stdin closing ends it at once.
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, wsArg, pollArg] = process.argv.slice(2);
const plan = [
  ...Array(Number(wsArg || 0)).fill("websocket"),
  ...Array(Number(pollArg || 0)).fill("polling"),
];

const clients = plan.map((transport) => {
  const record = { transport, disconnects: [], jobs: {}, connects: 0 };
  const socket = io(url, {
    transports: [transport],
    reconnection: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    timeout: 20000,
  });
  record.socket = socket;
  const job = (id) => (record.jobs[id] ??= { epochs: [], statuses: [], total: null });
  socket.on("connect", () => {
    record.connects += 1;
    maybeReady();
  });
  socket.on("disconnect", (reason) => record.disconnects.push({ at: Date.now() / 1000, reason }));
  socket.on("training_update", (u) => {
    const j = job(u.job_id);
    j.epochs.push(u.epoch);
    j.total = u.total_epochs;
  });
  socket.on("training_status", (s) => job(s.job_id).statuses.push(s.status));
  return record;
});

let ready = false;
function maybeReady() {
  if (!ready && clients.every((c) => c.connects > 0)) {
    ready = true;
    console.log(JSON.stringify({ ready: true }));
  }
}
maybeReady(); // no clients at all

let done = false;
function finish() {
  if (done) return;
  done = true;
  const summary = clients.map((c) => ({
    transport: c.transport,
    connects: c.connects,
    disconnects: c.disconnects,
    jobs: c.jobs,
  }));
  const line = JSON.stringify({ clients: summary }) + "\n"; // before the disconnects below
  for (const c of clients) c.socket.disconnect();
  // Exit once the (large) line is written: stdout to a pipe is asynchronous in Node.
  process.stdout.write(line, () => process.exit(0));
}

function finishedFor(ids) {
  return clients.every((c) => ids.every((id) => (c.jobs[id]?.statuses ?? []).some((s) => s !== "running")));
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const ids = JSON.parse(line).finished ?? [];
  const deadline = Date.now() + 30000;
  const check = () => (finishedFor(ids) || Date.now() > deadline ? finish() : setTimeout(check, 20));
  check();
});
rl.on("close", finish);
