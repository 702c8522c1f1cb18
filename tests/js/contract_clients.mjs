// N socket.io-client v4 clients with exactly the options of the dashboard contract
// (seed-websocket-api.md): they validate every training_update field and record epochs.
//
//   node contract_clients.mjs URL N_CLIENTS N_JOBS [STAGGER_MS]
//
// Prints {"ready": true, ...} once every client is connected, then, once every client has
// seen N_JOBS runs end (training_status completed, failed or cancelled), one summary line and exits.
// With STAGGER_MS the clients connect that many milliseconds apart (late joiners).
import { io } from "socket.io-client";

import { SEED_OPTIONS, problems } from "./contract.mjs";

const [url, nArg, jobsArg, staggerArg] = process.argv.slice(2);
const nClients = Number(nArg || 1);
const nJobs = Number(jobsArg || 1);
const stagger = Number(staggerArg || 0);

const clients = [];
let connected = 0;
let finishedClients = 0;

function maybeDone() {
  if (finishedClients < nClients) return;
  const summary = clients.map((c) => ({
    id: c.id,
    transport: c.transport,
    epochs: c.epochs,
    statuses: c.statuses,
    problems: c.problems.slice(0, 20),
    updates: c.updates,
    first: c.first,
  }));
  const line = JSON.stringify({ done: true, clients: summary }) + "\n";
  for (const c of clients) c.socket.disconnect();
  // Exit once the (large) line is written: stdout to a pipe is asynchronous in Node.
  process.stdout.write(line, () => process.exit(0));
}

function start(i) {
  const options = { ...SEED_OPTIONS };
  if (nClients > 1) options.forceNew = true; // one connection each, as separate browsers would have
  const socket = io(url, options);
  const c = { socket, id: null, transport: null, epochs: {}, statuses: {}, problems: [], updates: 0, ended: 0, first: null };
  clients.push(c);
  socket.on("connect", () => {
    c.id = socket.id;
    c.transport = socket.io.engine.transport.name;
    connected += 1;
    if (connected === nClients) console.log(JSON.stringify({ ready: true, clients: nClients }));
  });
  socket.on("connect_error", (err) => {
    console.error(`client ${i} connect_error: ${err.message}`);
  });
  socket.on("training_update", (u) => {
    c.updates += 1;
    if (c.first === null) c.first = u;
    for (const p of problems(u)) c.problems.push(`${p}: ${JSON.stringify(u)}`);
    (c.epochs[u.job_id] ||= []).push(u.epoch);
  });
  socket.on("training_status", (s) => {
    (c.statuses[s.job_id] ||= []).push(s.status);
    if (["completed", "failed", "cancelled"].includes(s.status)) {
      c.ended += 1;
      if (c.ended === nJobs) {
        finishedClients += 1;
        maybeDone();
      }
    }
  });
}

for (let i = 0; i < nClients; i++) {
  if (stagger > 0) setTimeout(() => start(i), i * stagger);
  else start(i);
}

setTimeout(() => {
  console.error(`timed out: ${connected}/${nClients} connected, ${finishedClients} finished`);
  process.exit(3);
}, 120000).unref();
