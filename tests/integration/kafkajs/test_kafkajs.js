'use strict'
/*
 * test_kafkajs.js BROKER -- kafkajs 2.2.4 against rewind-broker.
 *
 * Starts the broker on a free 127.0.0.1 port (port 0, read from its log)
 * with a temporary data dir, then with kafkajs:
 *   - admin: createTopics (and again: false, already there), listTopics,
 *     fetchTopicMetadata, fetchTopicOffsets, fetchTopicOffsetsByTimestamp,
 *     deleteTopics;
 *   - producer: keys (some null), binary values (empty, null, up to 200
 *     KiB), headers (repeated keys, binary and string values), explicit
 *     timestamps, gzip (the only codec kafkajs has without plug-ins) and
 *     none, acks -1 and 1; the stored batches carry the codec asked for;
 *   - consumption at exact offsets: records are read with the Fetch request
 *     of kafkajs's own protocol layer (cluster -> leader broker -> fetch(),
 *     what its consumer runs under the group machinery) from offset 0 and
 *     from the middle, and compared byte for byte with what was
 *     acknowledged: offsets 0..n-1 per partition, keys, values, headers,
 *     timestamps (its group consumer is test_kafkajs_groups.js's);
 *   - the broker is restarted between producing and the second read.
 * Only the broker this script started is signalled, by PID.
 */
const assert = require('assert')
const fs = require('fs')
const path = require('path')
const { CompressionTypes } = require('kafkajs')
const { Broker, check, checkCount, note, sameBuf, run } = require('./harness')

const BROKER = process.argv[2]
const broker = new Broker(BROKER, 'rewind-kafkajs-', ['num.partitions=1'])
const PARTITIONS = 3
const N = 300
const BASE_TS = 1600000000000

function newKafka () {
  return broker.kafka('rewind-kafkajs')
}

/* kafkajs's cluster object (metadata, leaders, broker connections), made the
 * way its producer, consumer and admin make theirs. */
function newCluster (kafka) {
  const sym = Object.getOwnPropertySymbols(kafka)
    .find(s => s.description === 'private:Kafka:createCluster')
  assert(sym, 'kafkajs has no createCluster: not 2.2.x?')
  return kafka[sym]({ allowAutoTopicCreation: false })
}

// ---- records

function rng (seed) {  // mulberry32: deterministic bytes per seed
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function randBytes (r, n) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256)
  return b
}

function compressible (r, n) {
  const parts = []
  let len = 0
  while (len < n) {
    const p = Buffer.concat([randBytes(r, Math.floor(r() * 16)),
      Buffer.from('rewind replays the log from offset 0; '.repeat(1 + Math.floor(r() * 3)))])
    parts.push(p)
    len += p.length
  }
  return Buffer.concat(parts).subarray(0, n)
}

/* N records: { key, value, headers (list of [name, Buffer]), ts, partition } */
function makeRecords (seed, allStamped) {
  const r = rng(seed)
  const out = []
  for (let i = 0; i < N; i++) {
    const key = i % 11 === 3 ? null : randBytes(r, Math.floor(r() * 40))
    let value
    if (i % 13 === 5 && key !== null) value = null
    else if (i % 17 === 0) value = Buffer.alloc(0)
    else if (i % 60 === 7) value = compressible(r, 200 * 1024)
    else value = compressible(r, 1 + Math.floor(r() * 3000))
    const headers = []
    if (i % 5 !== 0) {
      headers.push(['h-index', Buffer.from(String(i))])
      headers.push(['h-bin', randBytes(r, Math.floor(r() * 64))])
    }
    if (i % 7 === 1) {
      headers.push(['dup', Buffer.from('first')])
      headers.push(['dup', Buffer.from('second')])
      headers.push(['dup', Buffer.from('third')])
      headers.push(['empty', Buffer.alloc(0)])
      headers.push(['utf8-\u00e9\u00fc', Buffer.from('\u00e9 \u00fc \u2603')])
    }
    const ts = i % 10 === 9 && !allStamped ? null : BASE_TS + i * 1000
    out.push({ key, value, headers, ts, partition: i % PARTITIONS })
  }
  return out
}

/* kafkajs headers: an object; a repeated key takes an array of values. */
function headersObject (list) {
  const o = {}
  for (const [k, v] of list) {
    if (o[k] === undefined) o[k] = v
    else if (Array.isArray(o[k])) o[k].push(v)
    else o[k] = [o[k], v]
  }
  return o
}


function sameHeaders (got, want) {
  const w = headersObject(want)
  const gk = Object.keys(got).sort()
  const wk = Object.keys(w).sort()
  if (JSON.stringify(gk) !== JSON.stringify(wk)) return false
  for (const k of wk) {
    const a = [].concat(got[k])
    const b = [].concat(w[k])
    if (a.length !== b.length || !a.every((x, j) => sameBuf(x, b[j]))) return false
  }
  return true
}

// ---- the segment files

function storedCodecs (topic) {
  const codecs = new Set()
  for (let p = 0; p < PARTITIONS; p++) {
    const dir = path.join(broker.data, `${topic}-${p}`)
    for (const name of fs.readdirSync(dir).filter(n => n.endsWith('.log')).sort()) {
      const data = fs.readFileSync(path.join(dir, name))
      let pos = 0
      while (pos + 23 <= data.length) {
        const length = data.readInt32BE(pos + 8)
        if (length <= 0) break
        check(data[pos + 16] === 2, `${name}: magic ${data[pos + 16]} at ${pos}`)
        codecs.add(data.readInt16BE(pos + 21) & 7)
        pos += 12 + length
      }
    }
  }
  return [...codecs].sort()
}

// ---- produce

async function produce (kafka, topic, codec, acks, records) {
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const acked = new Map()   // "p:o" -> record
  // Several sends of 50, each one request with one batch per partition.
  for (let s = 0; s < records.length; s += 50) {
    const chunk = records.slice(s, s + 50)
    const res = await producer.send({
      topic,
      acks,
      compression: codec,
      timeout: 30000,
      messages: chunk.map(r => {
        const m = { key: r.key, value: r.value, partition: r.partition, headers: headersObject(r.headers) }
        if (r.ts !== null) m.timestamp = String(r.ts)
        return m
      })
    })
    check(res.length === PARTITIONS, `send: ${res.length} partition results`)
    for (const md of res) {
      check(md.topicName === topic && md.errorCode === 0, `send: ${JSON.stringify(md)}`)
      const mine = chunk.filter(r => r.partition === md.partition)
      mine.forEach((r, j) => {
        const key = `${md.partition}:${parseInt(md.baseOffset, 10) + j}`
        check(!acked.has(key), `offset ${key} acknowledged twice`)
        acked.set(key, r)
      })
    }
  }
  await producer.disconnect()
  for (let p = 0; p < PARTITIONS; p++) {
    const offs = [...acked.keys()].filter(k => k.startsWith(p + ':')).map(k => +k.split(':')[1]).sort((a, b) => a - b)
    check(offs.every((o, j) => o === j), `${topic}[${p}]: acknowledged offsets not 0..${offs.length - 1}`)
  }
  return acked
}

// ---- fetch with kafkajs's protocol layer

async function fetchAll (kafka, topic, acked, from) {
  const cluster = newCluster(kafka)
  await cluster.connect()
  await cluster.addTargetTopic(topic)
  await cluster.refreshMetadata()
  const got = new Map()
  for (let p = 0; p < PARTITIONS; p++) {
    const end = [...acked.keys()].filter(k => k.startsWith(p + ':')).length
    const meta = cluster.findTopicPartitionMetadata(topic).find(m => m.partitionId === p)
    const broker = await cluster.findBroker({ nodeId: String(meta.leader) })
    let offset = from[p]
    const deadline = Date.now() + 30000
    while (offset < end) {
      check(Date.now() < deadline, `${topic}[${p}] not read to ${end} in 30 s (at ${offset})`)
      const res = await broker.fetch({
        replicaId: -1,
        isolationLevel: 1,
        maxWaitTime: 100,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ topic, partitions: [{ partition: p, fetchOffset: String(offset), maxBytes: 256 * 1024 }] }]
      })
      const part = res.responses[0].partitions[0]
      check(part.errorCode === 0, `fetch ${topic}[${p}]@${offset}: error ${part.errorCode}`)
      check(+part.highWatermark === end, `fetch ${topic}[${p}]: high watermark ${part.highWatermark}, want ${end}`)
      for (const m of part.messages) {
        const o = parseInt(m.offset, 10)
        if (o < offset) continue   // the start of a batch before the fetch offset
        check(o === offset, `${topic}[${p}]: offset ${o} after ${offset - 1}`)
        got.set(`${p}:${o}`, m)
        offset = o + 1
      }
    }
  }
  await cluster.disconnect()
  return got
}

function compare (topic, acked, got, from) {
  let n = 0
  for (const [po, r] of acked) {
    const [p, o] = po.split(':').map(Number)
    if (o < from[p]) continue
    const m = got.get(po)
    check(m, `${topic}@${po}: not read`)
    check(sameBuf(m.key, r.key), `${topic}@${po}: key differs`)
    check(sameBuf(m.value, r.value), `${topic}@${po}: value differs`)
    check(sameHeaders(m.headers, r.headers), `${topic}@${po}: headers differ`)
    if (r.ts !== null) check(m.timestamp === String(r.ts), `${topic}@${po}: timestamp ${m.timestamp}, want ${r.ts}`)
    else check(+m.timestamp > BASE_TS + N * 1000, `${topic}@${po}: no producer timestamp (${m.timestamp})`)
    n++
  }
  check(got.size === n, `${topic}: read ${got.size} records, acknowledged ${n} from ${JSON.stringify(from)}`)
}

// ---- admin

async function adminChecks (kafka, topics) {
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    waitForLeaders: true,
    timeout: 30000,
    topics: topics.map(t => ({ topic: t, numPartitions: PARTITIONS, replicationFactor: 1 }))
      .concat([{ topic: 'js-doomed', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }])
  })
  check(created === true, 'createTopics did not answer true')
  const again = await admin.createTopics({ topics: [{ topic: topics[0], numPartitions: 1 }], timeout: 30000 })
  check(again === false, 'createTopics of an existing topic did not answer false')

  const listed = await admin.listTopics()
  for (const t of topics.concat(['js-doomed'])) check(listed.includes(t), `listTopics lacks ${t}`)

  const md = await admin.fetchTopicMetadata({ topics: topics.concat(['js-doomed']) })
  for (const t of md.topics) {
    const want = t.name === 'js-doomed' ? 2 : PARTITIONS
    check(t.partitions.length === want, `fetchTopicMetadata ${t.name}: ${t.partitions.length} partitions`)
    for (const p of t.partitions) {
      check(p.partitionErrorCode === 0 && p.leader === 0 &&
        JSON.stringify(p.replicas) === '[0]' && JSON.stringify(p.isr) === '[0]',
      `fetchTopicMetadata ${t.name}[${p.partitionId}]: ${JSON.stringify(p)}`)
    }
  }

  await admin.deleteTopics({ topics: ['js-doomed'], timeout: 30000 })
  check(!(await admin.listTopics()).includes('js-doomed'), 'deleted topic still listed')
  check(!fs.existsSync(path.join(broker.data, 'js-doomed-0')), 'deleted topic\'s directory still there')
  let unknown = null
  try {
    await admin.fetchTopicMetadata({ topics: ['js-doomed'] })
  } catch (e) {
    unknown = e
  }
  check(unknown && /does not host this topic-partition|UNKNOWN_TOPIC/i.test(unknown.message + unknown.type),
    `metadata of a deleted topic: ${unknown && unknown.message}`)
  await admin.disconnect()
}

async function offsetChecks (kafka, topic, acked) {
  const admin = kafka.admin()
  await admin.connect()
  const offs = await admin.fetchTopicOffsets(topic)
  check(offs.length === PARTITIONS, `fetchTopicOffsets: ${offs.length} partitions`)
  for (const o of offs) {
    const end = [...acked.keys()].filter(k => k.startsWith(o.partition + ':')).length
    check(o.low === '0' && o.high === String(end) && o.offset === String(end),
      `fetchTopicOffsets ${topic}[${o.partition}]: ${JSON.stringify(o)}, want 0..${end}`)
  }
  // By timestamp: Kafka's answer is the first offset, in log order, whose
  // timestamp is >= t; none -> kafkajs gives the high watermark.
  const byPart = []
  for (let p = 0; p < PARTITIONS; p++) byPart.push([])
  for (const [po, r] of acked) {
    const [p, o] = po.split(':').map(Number)
    byPart[p][o] = r.ts === null ? Infinity : r.ts
  }
  const probes = [0, BASE_TS, BASE_TS + 1, BASE_TS + 5000, BASE_TS + 150000, BASE_TS + 150001,
    BASE_TS + (N - 2) * 1000, BASE_TS + (N - 1) * 1000 + 1]
  for (const t of probes) {
    const res = await admin.fetchTopicOffsetsByTimestamp(topic, t)
    check(res.length === PARTITIONS, 'fetchTopicOffsetsByTimestamp: partitions')
    for (const { partition, offset } of res) {
      let want = byPart[partition].findIndex(ts => ts >= t)
      if (want < 0) want = byPart[partition].length
      check(offset === String(want), `fetchTopicOffsetsByTimestamp ${topic}[${partition}] ts ${t}: ${offset}, want ${want}`)
    }
  }
  await admin.disconnect()
}

// ---- the run

async function main () {
  await broker.start()
  note(`broker on 127.0.0.1:${broker.port}; kafkajs ${require('kafkajs/package.json').version}, node ${process.version}`)
  let kafka = newKafka()
  const plan = [
    // kafkajs 2.2.4 writes a batch's MaxTimestamp as the largest *explicit*
    // timestamp, leaving out records it stamps with Date.now(). The broker
    // sets MaxTimestamp from the records, as Kafka does, so ListOffsets by
    // time is checked on js-gzip-acks1 too, whose batches mix both kinds.
    { topic: 'js-gzip', codec: CompressionTypes.GZIP, name: 'gzip', id: 1, acks: -1, allStamped: true },
    { topic: 'js-none', codec: CompressionTypes.None, name: 'none', id: 0, acks: 1, allStamped: true },
    { topic: 'js-gzip-acks1', codec: CompressionTypes.GZIP, name: 'gzip', id: 1, acks: 1 }
  ]
  await adminChecks(kafka, plan.map(x => x.topic))
  note('ok: admin createTopics, listTopics, fetchTopicMetadata, deleteTopics')

  const acked = {}
  for (const [i, x] of plan.entries()) {
    acked[x.topic] = await produce(kafka, x.topic, x.codec, x.acks, makeRecords(i + 1, x.allStamped))
    check(acked[x.topic].size === N, `${x.topic}: ${acked[x.topic].size} of ${N} acknowledged`)
    const codecs = storedCodecs(x.topic)
    check(JSON.stringify(codecs) === JSON.stringify([x.id]), `${x.topic}: stored codecs ${codecs}, want ${x.id}`)
    note(`ok: produced ${N} records to ${x.topic} (${x.name}, acks ${x.acks}), stored with codec ${x.id}`)
  }
  const zero = Array(PARTITIONS).fill(0)
  for (const x of plan) {
    compare(x.topic, acked[x.topic], await fetchAll(kafka, x.topic, acked[x.topic], zero), zero)
    note(`ok: fetched ${x.topic} from offset 0, byte for byte`)
  }
  await offsetChecks(kafka, 'js-gzip', acked['js-gzip'])
  await offsetChecks(kafka, 'js-gzip-acks1', acked['js-gzip-acks1'])
  note('ok: fetchTopicOffsets, fetchTopicOffsetsByTimestamp (also with records kafkajs stamped itself)')

  await broker.stop()
  await broker.start()
  note(`ok: broker restarted on 127.0.0.1:${broker.port}`)
  kafka = newKafka()
  for (const x of plan) {
    const mid = [0, 1, 2].map(p => Math.floor(N / PARTITIONS / 2) + p)
    compare(x.topic, acked[x.topic], await fetchAll(kafka, x.topic, acked[x.topic], zero), zero)
    compare(x.topic, acked[x.topic], await fetchAll(kafka, x.topic, acked[x.topic], mid), mid)
    note(`ok: after restart fetched ${x.topic} from 0 and from ${JSON.stringify(mid)}`)
  }
  await offsetChecks(kafka, 'js-none', acked['js-none'])
  note('ok: offsets after restart')

  await broker.stop()
  note(`kafkajs: ${checkCount()} checks passed`)
}

run(main, broker)
