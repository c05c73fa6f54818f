'use strict'
/*
 * test_kafkajs_groups.js BROKER -- kafkajs 2.2.4 group consumers against
 * rewind-broker.
 *
 * Starts the broker on a free 127.0.0.1 port (port 0, read from its log)
 * with a temporary data dir (group.initial.rebalance.delay.ms=0), then:
 *   - produces 300 records to a 3-partition topic (keys, some null; binary
 *     values, empty and null among them; headers; explicit timestamps; gzip
 *     and none) and keeps what each acknowledged offset holds;
 *   - a kafkajs consumer in group "js-group" (fromBeginning, session 6 s,
 *     heartbeat 500 ms) reads all of it: every acknowledged (partition,
 *     offset) once, and key, value, headers and timestamp byte for byte;
 *     it commits as it goes and disconnects (final commit, LeaveGroup);
 *   - 60 more records; a new consumer in the same group reads exactly those
 *     (it resumes at the committed offsets), then leaves;
 *   - two consumers join the group together: their GROUP_JOIN assignments
 *     split the 3 partitions between them, and 90 more records are read
 *     once across the two; one leaves, the other takes all 3 partitions
 *     and reads the next 60;
 *   - the broker is restarted, 30 more records produced, and one consumer
 *     in the group reads exactly those: the offsets committed by kafkajs
 *     survived the restart.
 * Waits poll with deadlines. Only the broker this script started is
 * signalled, by PID.
 */
const assert = require('assert')
const { CompressionTypes } = require('kafkajs')
const { Broker, check, checkCount, note, waitFor, sameBuf, run } = require('./harness')

const BROKER = process.argv[2]
const broker = new Broker(BROKER, 'rewind-kafkajs-groups-', ['num.partitions=1',
  'group.initial.rebalance.delay.ms=0', 'offsets.topic.num.partitions=4'])
const TOPIC = 'js-groups'
const GROUP = 'js-group'
const PARTITIONS = 3
const BASE_TS = 1600000000000
let seq = 0   // records made so far, so every value is unique

function newKafka () {
  return broker.kafka('rewind-kafkajs-groups', { retry: { retries: 5 } })
}

// ---- records

function makeRecords (n) {
  const out = []
  for (let j = 0; j < n; j++) {
    const i = seq++
    const key = i % 7 === 3 ? null : Buffer.from(`key-${i}-\u00e9`)
    let value
    if (i % 11 === 5) value = null
    else if (i % 13 === 6) value = Buffer.alloc(0)
    else {
      value = Buffer.alloc(1 + (i * 37) % 900)
      for (let k = 0; k < value.length; k++) value[k] = (i * 31 + k * 7) & 0xff
      value.write(`#${i}#`, 0)
    }
    const headers = i % 4 === 0 ? {} : { idx: Buffer.from(String(i)), bin: Buffer.from([0, 255, i & 0xff]) }
    out.push({ i, key, value, headers, partition: i % PARTITIONS, ts: BASE_TS + i * 1000 })
  }
  return out
}

async function produce (kafka, records, codec) {
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const acked = new Map()   // "p:o" -> record
  for (let s = 0; s < records.length; s += 50) {
    const chunk = records.slice(s, s + 50)
    const res = await producer.send({
      topic: TOPIC,
      acks: -1,
      compression: codec,
      messages: chunk.map(r => ({ key: r.key, value: r.value, partition: r.partition,
        headers: r.headers, timestamp: String(r.ts) }))
    })
    for (const md of res) {
      check(md.errorCode === 0, `send: ${JSON.stringify(md)}`)
      chunk.filter(r => r.partition === md.partition).forEach((r, j) => {
        acked.set(`${md.partition}:${parseInt(md.baseOffset, 10) + j}`, r)
      })
    }
  }
  await producer.disconnect()
  check(acked.size === records.length, `acknowledged ${acked.size} of ${records.length}`)
  return acked
}


function sameHeaders (got, want) {
  const gk = Object.keys(got).sort()
  const wk = Object.keys(want).sort()
  return JSON.stringify(gk) === JSON.stringify(wk) && wk.every(k => sameBuf(got[k], want[k]))
}

// ---- consumers

/* A kafkajs group consumer that keeps what it reads (p:o -> message) and
 * the assignment of its last GROUP_JOIN. */
async function startConsumer (kafka, name, got) {
  const consumer = kafka.consumer({
    groupId: GROUP,
    sessionTimeout: 6000,
    rebalanceTimeout: 10000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
    allowAutoTopicCreation: false
  })
  const c = { name, consumer, assigned: null, got }   // c.got may be replaced
  consumer.on(consumer.events.GROUP_JOIN, e => {
    c.assigned = (e.payload.memberAssignment[TOPIC] || []).slice().sort()
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
  await consumer.run({
    autoCommitInterval: 100,
    eachMessage: async ({ partition, message }) => {
      const k = `${partition}:${message.offset}`
      c.got.push({ k, by: name, message })
    }
  })
  return c
}

/* Waits until every acknowledged record arrived, drains 1 s, and compares:
 * each once, nothing else, every byte. */
async function expectAll (got, acked, what) {
  await waitFor(() => new Set(got.map(g => g.k)).size >= acked.size &&
    [...acked.keys()].every(k => got.some(g => g.k === k)), `${what}: ${acked.size} records`, 30000)
  const end = Date.now() + 1000
  await waitFor(() => Date.now() >= end, 'drain')
  const seen = new Map()
  for (const g of got) {
    check(!seen.has(g.k), `${what}: ${g.k} read twice (by ${seen.get(g.k) && seen.get(g.k).by} and ${g.by})`)
    seen.set(g.k, g)
  }
  check(seen.size === acked.size, `${what}: read ${seen.size} records, want ${acked.size}: ` +
    `unexpected ${[...seen.keys()].filter(k => !acked.has(k)).slice(0, 5)}`)
  for (const [k, r] of acked) {
    const m = seen.get(k).message
    check(sameBuf(m.key, r.key), `${what} ${k}: key ${m.key} want ${r.key}`)
    check(sameBuf(m.value, r.value), `${what} ${k}: value differs (record ${r.i})`)
    check(sameHeaders(m.headers, r.headers), `${what} ${k}: headers ${JSON.stringify(m.headers)}`)
    check(m.timestamp === String(r.ts), `${what} ${k}: timestamp ${m.timestamp} want ${r.ts}`)
  }
  const by = {}
  for (const g of got) by[g.by] = (by[g.by] || 0) + 1
  note(`ok: ${what}: ${acked.size} records once, byte for byte (${JSON.stringify(by)})`)
}

async function main () {
  await broker.start()
  let kafka = newKafka()
  const admin = kafka.admin()
  await admin.connect()
  check(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] }),
    'createTopics')
  await admin.disconnect()

  // One consumer reads everything.
  const acked1 = await produce(kafka, makeRecords(300), CompressionTypes.GZIP)
  let got = []
  let a = await startConsumer(kafka, 'a', got)
  await expectAll(got, acked1, 'one consumer, from the beginning')
  check(JSON.stringify(a.assigned) === '[0,1,2]', `a holds ${a.assigned}`)
  await a.consumer.disconnect()

  // A new consumer in the group resumes at the committed offsets.
  const acked2 = await produce(kafka, makeRecords(60), CompressionTypes.None)
  got = []
  const b = await startConsumer(kafka, 'b', got)
  await expectAll(got, acked2, 'a new consumer after a commit')
  await b.consumer.disconnect()

  // Two consumers at once split the partitions.
  got = []
  const c1 = await startConsumer(kafka, 'c1', got)
  const c2 = await startConsumer(kafka, 'c2', got)
  await waitFor(() => c1.assigned && c2.assigned &&
    JSON.stringify([...c1.assigned, ...c2.assigned].sort()) === '[0,1,2]' &&
    c1.assigned.length > 0 && c2.assigned.length > 0,
  'two consumers to split 3 partitions', 30000)
  note(`ok: c1 holds ${JSON.stringify(c1.assigned)}, c2 ${JSON.stringify(c2.assigned)}`)
  const acked3 = await produce(kafka, makeRecords(90), CompressionTypes.GZIP)
  await expectAll(got, acked3, 'two consumers')
  check(got.some(g => g.by === 'c1') && got.some(g => g.by === 'c2'), 'one consumer read nothing')

  // c2 leaves: c1 takes all three partitions and reads what comes next.
  await c2.consumer.disconnect()
  await waitFor(() => JSON.stringify(c1.assigned) === '[0,1,2]', 'c1 to take over c2\'s partitions', 30000)
  note('ok: c2 left, c1 holds [0,1,2]')
  got = []
  c1.got = got
  const acked3b = await produce(kafka, makeRecords(60), CompressionTypes.None)
  await expectAll(got, acked3b, 'c1 alone after c2 left')
  await c1.consumer.disconnect()

  // Commits survive a restart.
  await broker.stop()
  await broker.start()
  note(`ok: broker restarted on 127.0.0.1:${broker.port}`)
  kafka = newKafka()
  const acked4 = await produce(kafka, makeRecords(30), CompressionTypes.None)
  got = []
  a = await startConsumer(kafka, 'd', got)
  await expectAll(got, acked4, 'after the restart')
  await a.consumer.disconnect()

  await broker.stop()
  note(`kafkajs groups: ${checkCount()} checks passed`)
}

assert(BROKER, 'usage: test_kafkajs_groups.js BROKER')
run(main, broker)
