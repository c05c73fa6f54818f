'use strict'
/*
 * harness.js -- what the kafkajs tests share: one rewind-broker started and
 * stopped by PID, checks, and waits with a deadline. The JavaScript twin of
 * ../broker_harness.py.
 *
 *   const { Broker, check, run } = require('./harness')
 *   const broker = new Broker(BROKER, 'rewind-kafkajs-', ['num.partitions=1'])
 *   await broker.start()        // port 0 the first time; the bound port is
 *                               // read from this start's log
 *   broker.kafka('client-id')   // a kafkajs client for it
 *   await broker.stop()         // SIGTERM; checks exit 0 and no sanitizer report
 *   run(main, broker)           // runs main; on failure prints the log, kills
 *                               // the broker and exits 1; removes the temp dir
 *
 * Each start logs to its own file (TMP/broker-N.log). Nothing here sleeps
 * a fixed time except between polls.
 */
const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawn } = require('child_process')
const { Kafka, logLevel } = require('kafkajs')

let checks = 0

function check (cond, msg) {
  if (!cond) throw new Error(msg)
  checks++
}

function checkCount () { return checks }

function note (msg) { process.stdout.write(msg + '\n') }

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/* Polls fn() every 50 ms until it returns something true (returned) or
 * timeoutMs pass (thrown). */
async function waitFor (fn, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what)
    await sleep(50)
  }
}

function sameBuf (a, b) {
  if (a === null || b === null) return a === b
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b)
}

const SANITIZER_MARKS = ['runtime error:', 'AddressSanitizer', 'LeakSanitizer']

class Broker {
  /* exe: the rewind-broker program; prefix: the temp dir's name prefix;
   * sets: extra `--set key=value` assignments. */
  constructor (exe, prefix, sets = []) {
    this.exe = exe
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
    this.data = path.join(this.tmp, 'data')
    this.sets = sets
    this.proc = null
    this.port = 0
    this.starts = 0
    this.logPath = null
  }

  /* This start's log. */
  text () {
    return this.logPath && fs.existsSync(this.logPath) ? fs.readFileSync(this.logPath, 'utf8') : ''
  }

  /* Every start's log, in order. */
  allText () {
    let t = ''
    for (let i = 1; i <= this.starts; i++) {
      const p = path.join(this.tmp, `broker-${i}.log`)
      if (fs.existsSync(p)) t += fs.readFileSync(p, 'utf8')
    }
    return t
  }

  async start () {
    this.starts++
    this.logPath = path.join(this.tmp, `broker-${this.starts}.log`)
    const fd = fs.openSync(this.logPath, 'w')
    const args = ['--set', 'log.dirs=' + this.data,
      '--set', `listeners=PLAINTEXT://127.0.0.1:${this.port}`,
      '--set', 'metrics.listener=']
    for (const s of this.sets) args.push('--set', s)
    this.proc = spawn(this.exe, args, { stdio: ['ignore', 'ignore', fd] })
    fs.closeSync(fd)
    let exited = null
    this.proc.on('exit', code => { exited = code })
    const text = await waitFor(() => {
      if (exited !== null) throw new Error(`broker exited with ${exited} at start:\n${this.text()}`)
      const t = this.text()
      return t.includes(' ready') && t
    }, 'the broker to be ready')
    this.port = parseInt(/listening on 127\.0\.0\.1:(\d+)/.exec(text)[1], 10)
  }

  async stop () {
    const p = this.proc
    this.proc = null
    const code = await new Promise(resolve => {
      if (p.exitCode !== null) return resolve(p.exitCode)
      p.on('exit', (c, sig) => resolve(c === null ? sig : c))
      process.kill(p.pid, 'SIGTERM')
    })
    check(code === 0, `broker exited with ${code} on SIGTERM`)
    for (const mark of SANITIZER_MARKS) {
      check(!this.text().includes(mark), `sanitizer report in ${this.logPath}`)
    }
  }

  /* A kafkajs client for this broker; `options` adds to or overrides the
   * defaults (retry, timeouts). */
  kafka (clientId, options = {}) {
    return new Kafka({
      clientId,
      brokers: [`127.0.0.1:${this.port}`],
      logLevel: logLevel.WARN,
      retry: { retries: 3 },
      requestTimeout: 30000,
      connectionTimeout: 5000,
      ...options
    })
  }

  cleanup () {
    fs.rmSync(this.tmp, { recursive: true, force: true })
  }
}

/* Runs main(); on failure prints the error and the last lines of the
 * broker's log, kills the broker (by PID) and exits 1. The temp dir goes
 * either way. */
function run (main, broker) {
  main().then(() => {
    broker.cleanup()
  }, err => {
    process.stderr.write(`FAIL: ${err && err.stack ? err.stack : err}\n`)
    const lines = broker.text().split('\n').slice(-40).map(l => '  | ' + l).join('\n')
    process.stderr.write(`---- broker log (last start)\n${lines}\n`)
    if (broker.proc && broker.proc.exitCode === null) process.kill(broker.proc.pid, 'SIGKILL')
    broker.cleanup()
    process.exit(1)
  })
}

module.exports = { Broker, check, checkCount, note, sleep, waitFor, sameBuf, run }
