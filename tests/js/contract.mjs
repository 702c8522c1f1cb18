// The dashboard contract (seed-websocket-api.md) as the Node clients check it: the
// io() options of the seed's client, and what is wrong with a training_update.

export const SEED_OPTIONS = {
  transports: ["websocket", "polling"],
  timeout: 20000,
  reconnection: true,
  reconnectionAttempts: 5,
  reconnectionDelay: 1000,
};

export const FIELDS = ["job_id", "network_id", "epoch", "total_epochs", "accuracy", "elapsed_time", "progress", "correct", "total"];

// The problems of one training_update payload ([] when it is exactly the contract's).
export function problems(u) {
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
  const hasCounts = "correct" in u || "total" in u;
  if (u.accuracy === null) {
    if (hasCounts) bad.push("correct/total present without accuracy");
  } else {
    if (!(typeof u.accuracy === "number" && u.accuracy >= 0 && u.accuracy <= 1)) bad.push("accuracy is not in [0, 1]");
    if (!Number.isInteger(u.correct) || !Number.isInteger(u.total) || u.correct < 0 || u.correct > u.total) bad.push("correct/total");
    else if (Math.abs(u.accuracy - u.correct / u.total) > 1e-12) bad.push("accuracy != correct / total");
  }
  return bad;
}
