// A socket.io-client v4 dashboard that controls a job with the client events
// pause_job, set_learning_rate and resume_job, and waits for each acknowledgement.
//
//   node control_client.mjs URL JOB_ID
//
// It pauses the job, waits for training_status "paused", sends a bad learning rate and a
// good one, resumes, waits for training_status "running", asks to pause a job that does
// not exist, then prints one JSON line with every ack and every status seen, and exits.
import { io } from "socket.io-client";

const [url, jobId] = process.argv.slice(2);
const socket = io(url, { transports: ["websocket", "polling"], timeout: 20000, reconnection: false });
const statuses = [];
const waiting = [];

socket.on("training_status", (status) => {
  if (status.job_id !== jobId) return;
  statuses.push(status.status);
  for (const w of waiting.filter((w) => w.status === status.status)) w.resolve();
});

function statusSeen(status) {
  if (statuses.includes(status)) return Promise.resolve();
  return new Promise((resolve) => waiting.push({ status, resolve }));
}

socket.on("connect", async () => {
  const acks = {};
  acks.pause = await socket.timeout(20000).emitWithAck("pause_job", { job_id: jobId });
  await statusSeen("paused");
  acks.bad_rate = await socket.timeout(20000).emitWithAck("set_learning_rate", { job_id: jobId, learning_rate: -1 });
  acks.rate = await socket.timeout(20000).emitWithAck("set_learning_rate", { job_id: jobId, learning_rate: 0.5 });
  const before = statuses.length;
  acks.resume = await socket.timeout(20000).emitWithAck("resume_job", { job_id: jobId });
  await new Promise((resolve) => {
    const check = () => (statuses.slice(before).includes("running") ? resolve() : setTimeout(check, 10));
    check();
  });
  acks.unknown = await socket.timeout(20000).emitWithAck("pause_job", { job_id: "no-such-job" });
  console.log(JSON.stringify({ acks, statuses, transport: socket.io.engine.transport.name }));
  socket.disconnect();
  setTimeout(() => process.exit(0), 50);
});
socket.on("connect_error", (err) => {
  console.error(`connect_error: ${err.message}`);
  process.exit(2);
});

setTimeout(() => {
  console.error(`timed out; statuses ${JSON.stringify(statuses)}`);
  process.exit(3);
}, 60000).unref();
