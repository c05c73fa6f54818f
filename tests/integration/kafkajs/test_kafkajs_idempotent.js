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
const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawn } = require('child_process')
const { Kafka, logLevel } = require('kafkajs')

const BROKER = process.argv[2]
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'rewind-kafkajs-idem-'))
const DATA = path.join(TMP, 'data')
const PARTITIONS = 3
let checks = 0
let proc = null
let port = 0
let starts = 0
let logPath = null

function check (cond, msg) {
  if (!cond) throw new Error(msg)
  checks++
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (fn, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what)
    await sleep(50)
  }
}

function logText () {
  let t = ''
  for (let i = 1; i <= starts; i++) {
    const p = path.join(TMP, `broker-${i}.log`)
    if (fs.existsSync(p)) t += fs.readFileSync(p, 'utf8')
  }
  return t
}

async function startBroker () {
  starts++
  logPath = path.join(TMP, `broker-${starts}.log`)
  const fd = fs.openSync(logPath, 'w')
  proc = spawn(BROKER, ['--set', 'log.dirs=' + DATA,
    '--set', `listeners=PLAINTEXT://127.0.0.1:${port}`,
    '--set', 'metrics.listener='], { stdio: ['ignore', 'ignore', fd] })
  fs.closeSync(fd)
  let exited = null
  proc.on('exit', code => { exited = code })
  const text = await waitFor(() => {
    if (exited !== null) throw new Error(`broker exited with ${exited} at start:\n${logText()}`)
    const t = fs.readFileSync(logPath, 'utf8')
    return t.includes(' ready') && t
  }, 'the broker to be ready')
  port = parseInt(/listening on 127\.0\.0\.1:(\d+)/.exec(text)[1], 10)
}

async function stopBroker () {
  const p = proc
  proc = null
  const code = await new Promise(resolve => {
    if (p.exitCode !== null) return resolve(p.exitCode)
    p.on('exit', (c, sig) => resolve(c === null ? sig : c))
    process.kill(p.pid, 'SIGTERM')
  })
  check(code === 0, `broker exited with ${code} on SIGTERM`)
  for (const mark of ['runtime error:', 'AddressSanitizer', 'LeakSanitizer']) {
    check(!logText().includes(mark), 'sanitizer report in the broker log')
  }
}

function newKafka () {
  return new Kafka({
    clientId: 'rewind-kafkajs-idem',
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.WARN,
    retry: { retries: 10, initialRetryTime: 100 },
    requestTimeout: 30000,
    connectionTimeout: 5000
  })
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
  await startBroker()
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
  await stopBroker()
  await startBroker()
  ;({ n } = await sendNumbers(producer, 'idem', n, 20))
  check(/recovered/.test(logText()), 'the broker reopened the partitions')

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
  const text = logText()
  check(!text.includes('refused: producer'), 'the broker refused a kafkajs sequence')
  check(!/producer \d+ epoch \d+ sequence/.test(text), 'the broker refused a kafkajs sequence')
  await stopBroker()
  process.stdout.write(`test_kafkajs_idempotent: ${n} records, ${checks} checks passed\n`)
}

main().then(() => {
  fs.rmSync(TMP, { recursive: true, force: true })
}, err => {
  process.stderr.write(`FAIL: ${err.stack || err}\n`)
  if (proc) process.kill(proc.pid, 'SIGKILL')
  process.stderr.write(logText().split('\n').slice(-40).join('\n') + '\n')
  fs.rmSync(TMP, { recursive: true, force: true })
  process.exit(1)
})
