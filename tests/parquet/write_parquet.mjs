// write_parquet.mjs OUTDIR - the Parquet files tests/unit/test_parquet.c decodes
//
// Two real writers, installed here by `npm ci` (package-lock.json), write S3
// Inventory shaped files of the same table (the formulas below; the C test's
// expected_line() mirrors them and compares what it decodes):
// - DuckDB (@duckdb/node-api): each codec with PARQUET_VERSION V1 and V2
//   (V2 means DELTA_* and RLE_DICTIONARY encodings in v1 data pages), time
//   columns of each unit, reordered and extra columns, and files the reader
//   must refuse (nested columns, LZ4_RAW and BROTLI, missing or mistyped
//   columns, null keys, negative sizes, times before year 0);
// - arrow-rs's writer (parquet-wasm, tables built with apache-arrow): data
//   pages v1 and v2 (DATA_PAGE_V2) with each codec, small pages (several per
//   chunk) and a small dictionary limit (dictionary pages, then PLAIN pages
//   when it is full), and a file without dictionaries in DELTA_BYTE_ARRAY
//   and DELTA_BINARY_PACKED.
// Runs offline; prints nothing but errors; exit status 0 when all are written.
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as pq from 'parquet-wasm/node';
import { writeFileSync } from 'node:fs';

const out = process.argv[2];
if (!out) {
  console.error('usage: node write_parquet.mjs OUTDIR');
  process.exit(2);
}
const ROWS = 5000;

const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
await c.run("SET TimeZone = 'UTC'");

// The inventory table; test_parquet.c's expected_line() mirrors each formula.
await c.run(`CREATE TABLE inv AS SELECT
  i AS row_index,
  'bkt-' || (i % 3)::VARCHAR AS bucket,
  'dir ' || (i // 100)::VARCHAR || '/k+%2F' || i::VARCHAR || '-é' AS key,
  CASE WHEN i % 7 = 0 THEN NULL WHEN i % 7 = 1 THEN ''
       ELSE 'v' || ((i * 7919) % 100003)::VARCHAR END AS version_id,
  CASE WHEN i % 11 = 0 THEN NULL ELSE i % 2 = 0 END AS is_latest,
  CASE WHEN i % 13 = 0 THEN NULL ELSE i % 5 = 0 END AS is_delete_marker,
  CASE WHEN i % 17 = 0 THEN NULL ELSE i * 1099511627 END::BIGINT AS size,
  CASE WHEN i % 19 = 0 THEN NULL
       ELSE make_timestamp(1715035068000000 + i * 1234567891) END AS last_modified_date,
  CASE WHEN i % 23 = 0 THEN NULL WHEN i % 23 = 1 THEN '"q' || (i % 5)::VARCHAR || '"'
       ELSE 'etag' || (i % 50)::VARCHAR END AS e_tag,
  CASE i % 4 WHEN 0 THEN 'STANDARD' WHEN 1 THEN 'GLACIER' WHEN 2 THEN NULL
       ELSE 'STANDARD_IA' END AS storage_class,
  i % 2 = 1 AS is_multipart_uploaded,
  CASE WHEN i % 3 = 0 THEN NULL ELSE 'SSE-S3' END AS encryption_status
FROM range(${ROWS}) t(i) ORDER BY i`);

async function copy(query, file, options) {
  await c.run(`COPY (${query}) TO '${out}/${file}' (FORMAT parquet, ${options})`);
}

// each codec, both page versions, several row groups
for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd']) {
  for (const version of ['V1', 'V2']) {
    await copy('SELECT * FROM inv ORDER BY row_index', `inv_${codec}_${version}.parquet`,
      `COMPRESSION ${codec}, PARQUET_VERSION ${version}, ROW_GROUP_SIZE 2048`);
  }
}

// the first 1000 rows, columns reordered, names in other cases, extra columns, size an INT32
// (i * 1000 where size is not null), last_modified_date a string
await copy(`SELECT row_index, storage_class AS STORAGE_CLASS, e_tag,
    (CASE WHEN size IS NULL THEN NULL ELSE row_index * 1000 END)::INTEGER AS Size,
    key AS "KEY", strftime(last_modified_date, '%Y-%m-%dT%H:%M:%S.%fZ') AS last_modified_date,
    is_delete_marker, is_latest, version_id AS Version_Id, bucket, 'x' AS replication_status
  FROM inv WHERE row_index < 1000 ORDER BY row_index`,
  'inv_reordered.parquet', 'COMPRESSION snappy');

// times of each unit: name|unit|value in that unit, one file each
const times = {
  ms: ['-1', '0', '1715035068123', '-62167219200000', '253402300799999'],
  us: ['-1', '1715035068123456', '-62167219200000000', '253402300799999999'],
  ns: ['-1', '1715035068123999999', '-9000000000000000001'],
};
const make = {
  ms: (v) => `make_timestamp(${v} * 1000)::TIMESTAMP_MS`,
  us: (v) => `make_timestamp(${v})`,
  ns: (v) => `make_timestamp_ns(${v})`,
  tz: (v) => `make_timestamp(${v})::TIMESTAMPTZ`,
};
times.tz = times.us;
for (const unit of Object.keys(times)) {
  const rows = times[unit].map((v, i) =>
    `SELECT 'b' AS bucket, 'k${i}' AS key, ${make[unit](`${v}::BIGINT`)} AS last_modified_date`);
  await copy(rows.join(' UNION ALL '), `time_${unit}.parquet`, 'COMPRESSION uncompressed');
}
await copy(`SELECT 'b' AS bucket, 'k' AS key, make_timestamp(-62167219200000001) AS last_modified_date`,
  'time_before_year_0.parquet', 'COMPRESSION uncompressed');

// files the reader refuses
await copy(`SELECT 'b' AS bucket, 'k' AS key, {'a': 1, 'b': 'x'} AS owner`, 'nested_struct.parquet',
  'COMPRESSION snappy');
await copy(`SELECT 'b' AS bucket, 'k' AS key, ['x', 'y'] AS tags`, 'nested_list.parquet',
  'COMPRESSION snappy');
await copy('SELECT * FROM inv ORDER BY row_index LIMIT 10', 'codec_lz4_raw.parquet', 'COMPRESSION lz4_raw');
await copy('SELECT * FROM inv ORDER BY row_index LIMIT 10', 'codec_brotli.parquet', 'COMPRESSION brotli');
await copy('SELECT bucket, version_id FROM inv LIMIT 10', 'no_key.parquet', 'COMPRESSION snappy');
await copy(`SELECT 'b' AS bucket, 7 AS key`, 'key_not_string.parquet', 'COMPRESSION snappy');
await copy(`SELECT 'b' AS bucket, CASE WHEN i = 2 THEN NULL ELSE 'k' END AS key FROM range(4) t(i)`,
  'null_key.parquet', 'COMPRESSION snappy');
await copy(`SELECT 'b' AS bucket, 'k' AS key, -5::BIGINT AS size`, 'negative_size.parquet',
  'COMPRESSION snappy');

// ---- arrow-rs (parquet-wasm) ------------------------------------------------------------------

const idx = Array.from({ length: ROWS }, (_, i) => i);
const TS0 = 1715035068000000n;

// An Int64-backed column (Int64 or a timestamp type) from BigInts and nulls.
function int64Column(type, values) {
  const bitmap = new Uint8Array(Math.ceil(values.length / 8));
  const data = new BigInt64Array(values.length);
  let nulls = 0;
  values.forEach((v, i) => {
    if (v === null) {
      nulls++;
    } else {
      bitmap[i >> 3] |= 1 << (i & 7);
      data[i] = v;
    }
  });
  return arrow.makeVector(arrow.makeData({ type, length: values.length, nullCount: nulls,
    nullBitmap: bitmap, data }));
}

const strings = (f) => arrow.vectorFromArray(idx.map(f), new arrow.Utf8());
const table = new arrow.Table({
  bucket: strings((i) => `bkt-${i % 3}`),
  key: strings((i) => `dir ${Math.floor(i / 100)}/k+%2F${i}-é`),
  version_id: strings((i) => (i % 7 === 0 ? null : i % 7 === 1 ? '' : `v${(i * 7919) % 100003}`)),
  is_latest: arrow.vectorFromArray(idx.map((i) => (i % 11 === 0 ? null : i % 2 === 0)),
    new arrow.Bool()),
  is_delete_marker: arrow.vectorFromArray(idx.map((i) => (i % 13 === 0 ? null : i % 5 === 0)),
    new arrow.Bool()),
  size: int64Column(new arrow.Int64(), idx.map((i) => (i % 17 === 0 ? null : BigInt(i) * 1099511627n))),
  last_modified_date: int64Column(new arrow.TimestampMicrosecond('UTC'),
    idx.map((i) => (i % 19 === 0 ? null : TS0 + BigInt(i) * 1234567891n))),
  e_tag: strings((i) => (i % 23 === 0 ? null : i % 23 === 1 ? `"q${i % 5}"` : `etag${i % 50}`)),
  storage_class: strings((i) => ['STANDARD', 'GLACIER', null, 'STANDARD_IA'][i % 4]),
});
const ipc = arrow.tableToIPC(table, 'stream');

function writeWasm(file, configure) {
  const props = configure(new pq.WriterPropertiesBuilder().setMaxRowGroupSize(2000)).build();
  writeFileSync(`${out}/${file}`, pq.writeParquet(pq.Table.fromIPCStream(ipc), props));
}

const codecs = { uncompressed: pq.Compression.UNCOMPRESSED, snappy: pq.Compression.SNAPPY,
  gzip: pq.Compression.GZIP, zstd: pq.Compression.ZSTD };
for (const [name, codec] of Object.entries(codecs)) {
  for (const [version, wv] of [['V1', pq.WriterVersion.V1], ['V2', pq.WriterVersion.V2]]) {
    writeWasm(`wasm_${name}_${version}.parquet`, (b) => b.setCompression(codec)
      .setWriterVersion(wv).setDataPageSizeLimit(2048).setWriteBatchSize(128)
      .setDictionaryPageSizeLimit(2048));
  }
}
writeWasm('wasm_delta.parquet', (b) => {
  b = b.setCompression(pq.Compression.ZSTD).setWriterVersion(pq.WriterVersion.V2)
    .setDictionaryEnabled(false).setDataPageSizeLimit(4096).setWriteBatchSize(128);
  for (const col of ['bucket', 'key', 'version_id', 'e_tag', 'storage_class'])
    b = b.setColumnEncoding(col, pq.Encoding.DELTA_BYTE_ARRAY);
  for (const col of ['size', 'last_modified_date'])
    b = b.setColumnEncoding(col, pq.Encoding.DELTA_BINARY_PACKED);
  return b;
});
