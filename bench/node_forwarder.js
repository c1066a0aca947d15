// The Node.js reference for bench/forwarder.py: the job of the Node forwarder this product
// replaces, done plainly (each change mapped to the backup record, JSON.stringify plus a
// newline, one Firehose record per change, packed 500 records / 4 MiB per PutRecordBatch into
// a stub). It leaves out that tool's callbacks and logging, so it is if anything faster.
// Usage: node node_forwarder.js EVENT.json.gz INVOCATIONS WARMUP -> {"rate": records/CPU-s}
"use strict";
const fs = require("fs");
const zlib = require("zlib");

const [eventPath, invocations = "200", warmup = "20"] = process.argv.slice(2);
const event = JSON.parse(zlib.gunzipSync(fs.readFileSync(eventPath)).toString("utf8"));
const COPIED = ["Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "ApproximateCreationDateTime"];

function backupRecord(record, table) {
  const ddb = record.dynamodb;
  const out = {};
  for (const k of COPIED) if (k in ddb) out[k] = ddb[k];
  out.eventName = record.eventName;
  out.eventID = record.eventID;
  out.tableName = table;
  out.streamLabel = record.eventSourceARN.split("/stream/")[1] || "";
  if (record.userIdentity) out.userIdentity = record.userIdentity;
  return out;
}

function putRecordBatch(stream, records) {
  return { FailedPutCount: 0, RequestResponses: records.map(() => ({ RecordId: "x" })) };
}

function forward(records) {
  const byTable = new Map();
  for (const r of records) {
    const table = r.eventSourceARN.split(":table/")[1].split("/")[0];
    if (!byTable.has(table)) byTable.set(table, []);
    byTable.get(table).push(r);
  }
  let calls = 0;
  for (const [table, group] of byTable) {
    let batch = [];
    let bytes = 0;
    for (const r of group) {
      const data = Buffer.from(JSON.stringify(backupRecord(r, table)) + "\n");
      if (batch.length && (batch.length === 500 || bytes + data.length > 4 * 1024 * 1024)) {
        putRecordBatch(table, batch);
        calls++;
        batch = [];
        bytes = 0;
      }
      batch.push({ Data: data });
      bytes += data.length;
    }
    if (batch.length) {
      putRecordBatch(table, batch);
      calls++;
    }
  }
  return calls;
}

const n = event.Records.length;
for (let i = 0; i < Number(warmup); i++) forward(event.Records);
const rates = [];
for (let i = 0; i < Number(invocations); i++) {
  const start = process.cpuUsage();
  forward(event.Records);
  const used = process.cpuUsage(start);
  rates.push(n / Math.max((used.user + used.system) / 1e6, 1e-9));
}
rates.sort((a, b) => a - b);
const mid = rates.length >> 1;
const median = rates.length % 2 ? rates[mid] : (rates[mid - 1] + rates[mid]) / 2;
process.stdout.write(JSON.stringify({ rate: median }) + "\n");
