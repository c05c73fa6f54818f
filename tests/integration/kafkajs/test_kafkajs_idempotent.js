'use strict'
/*
 * test_kafkajs_idempotent.js BROKER -- kafkajs 2.2.4's idempotent producer
 * against rewind (run by test_kafkajs.sh).
 *
 * kafkajs asks for a producer id (InitProducerId) when `idempotent: true`
 * and numbers its batches per partition. Checks: its sends are acknowledged
 * at contiguous offsets; after a clean restart of the broker the same
 * producer goes on with its next sequences (the state came back from the
 * snapshot, so they are in order, not refused); a second producer gets
 * another id; a consumer reads every record exactly once in order; the
 * broker logged no sequence refusal.
 */
const assert = require('assert')
const { Broker, check, checkCount, waitFor, run } = require('./harness')

const BROKER = process.argv[2]
const broker = new Broker(BROKER, 'rewind-kafkajs-idem-')
const PARTITIONS = 3

function newKafka () {
  return broker.kafka('rewind-kafkajs-idem', { retry: { retries: 10, initialRetryTime: 100 } })
}

// Sends `rounds` sends of 3 records (one per partition) numbered from n.
async function sendNumbers (producer, topic, n, rounds) {
  const offsets = []
  for (let r = 0; r < rounds; r++) {
    const messages = []
    for (let p = 0; p < PARTITIONS; p++) messages.push({ partition: p, value: String(n++) })
    const res = await producer.send({ topic, acks: -1, messages })
    for (const x of res) {
      check(x.errorCode === 0, `send: error ${x.errorCode} on partition ${x.partition}`)
      offsets.push([x.partition, Number(x.baseOffset)])
    }
  }
  return { n, offsets }
}

async function main () {
  await broker.start()
  let kafka = newKafka()
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'idem', numPartitions: PARTITIONS }], waitForLeaders: true })
  await admin.disconnect()

  // Unlimited retries, as kafkajs wants for an idempotent producer.
  const retry = { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry })
  await producer.connect()
  let { n, offsets } = await sendNumbers(producer, 'idem', 0, 20)
  const perPart = {}
  for (const [p, o] of offsets) {
    perPart[p] = perPart[p] === undefined ? -1 : perPart[p]
    check(o === perPart[p] + 1, `partition ${p}: base offset ${o} after ${perPart[p]}`)
    perPart[p] = o
  }

  // A clean restart: the producer keeps its id and sequences; the broker
  // must recognise them (snapshot at close) and accept the next ones.
  await broker.stop()
  await broker.start()
  ;({ n } = await sendNumbers(producer, 'idem', n, 20))
  check(/idem-\d+: clean/.test(broker.allText()), 'the broker reopened the partitions cleanly')

  // A second producer: another id, its own sequences from 0.
  kafka = newKafka()
  const second = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry })
  await second.connect()
  ;({ n } = await sendNumbers(second, 'idem', n, 5))
  await second.disconnect()
  await producer.disconnect()

  // Every number once, increasing within its partition.
  const consumer = kafka.consumer({ groupId: 'idem-check' })
  await consumer.connect()
  await consumer.subscribe({ topic: 'idem', fromBeginning: true })
  const seen = new Map()
  const last = {}
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const v = Number(message.value.toString())
      assert(!seen.has(v), `number ${v} read twice`)
      assert(last[partition] === undefined || v > last[partition], `partition ${partition}: ${v} after ${last[partition]}`)
      assert(v % PARTITIONS === partition, `number ${v} in partition ${partition}`)
      last[partition] = v
      seen.set(v, true)
    }
  })
  await waitFor(() => seen.size >= n, `all ${n} numbers to be read`, 60000)
  await consumer.disconnect()
  check(seen.size === n, `${seen.size} numbers read, ${n} sent`)
  for (let i = 0; i < n; i++) check(seen.has(i), `number ${i} missing`)
  const text = broker.allText()
  check(!text.includes('refused: producer'), 'the broker refused a kafkajs sequence')
  check(!/producer \d+ epoch \d+ sequence/.test(text), 'the broker refused a kafkajs sequence')
  await broker.stop()
  process.stdout.write(`test_kafkajs_idempotent: ${n} records, ${checkCount()} checks passed\n`)
}

run(main, broker)
