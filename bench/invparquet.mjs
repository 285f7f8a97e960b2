// invparquet.mjs - bench/invgen's S3 Inventory as Apache Parquet files, for bench/inventory.sh
//
//   node bench/invparquet.mjs OUTDIR BUCKET KEYPREFIX FILE.csv.gz...
//   env: PARQUET_ROW_GROUP (rows per row group, default 122880, DuckDB's own default),
//        PARQUET_COMPRESSION (snappy, as S3 Inventory writes; or zstd, gzip, uncompressed)
//
// DuckDB (@duckdb/node-api, installed in tests/parquet by `npm ci`) reads each CSV.gz file
// and writes one Parquet file of the same lines in the same order, in the schema S3
// Inventory's Parquet files have (the fixture parquet_inventory.parquet): the 18 snake_case
// columns, strings, booleans, an INT64 size, TIMESTAMP(MILLIS) times; keys URL-decoded and
// empty CSV fields null, as S3 writes them in Parquet; the bucket column is BUCKET (the
// catalog gets the rows apart from the CSV run's). DuckDB writes dictionary pages for the
// low-cardinality columns (RLE_DICTIONARY) and PLAIN where the dictionary would not pay.
//
// stdout: "data PATH KEY SIZE MD5 LINES" per file (KEY = KEYPREFIX/data/NAME.parquet), then
// "seconds S".
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';

const require = createRequire(new URL('../tests/parquet/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const [outdir, bucket, prefix, ...files] = process.argv.slice(2);
if (!outdir || !bucket || !prefix || files.length === 0) {
  console.error('usage: node bench/invparquet.mjs OUTDIR BUCKET KEYPREFIX FILE.csv.gz...');
  process.exit(2);
}
const rowGroup = Number(process.env.PARQUET_ROW_GROUP || 122880);
const compression = process.env.PARQUET_COMPRESSION || 'snappy';
const t0 = process.hrtime.bigint();

const csvColumns = [
  'Bucket', 'Key', 'VersionId', 'IsLatest', 'IsDeleteMarker', 'Size', 'LastModifiedDate',
  'ETag', 'StorageClass', 'IsMultipartUploaded', 'ReplicationStatus', 'EncryptionStatus',
  'ObjectLockRetainUntilDate', 'ObjectLockMode', 'ObjectLockLegalHoldStatus',
  'IntelligentTieringAccessTier', 'BucketKeyStatus', 'ChecksumAlgorithm',
];
const str = (c) => `nullif(${c}, '')`;
const bool = (c) => `CASE ${c} WHEN 'true' THEN true WHEN 'false' THEN false END`;
const time = (c) => `strptime(nullif(${c}, ''), '%Y-%m-%dT%H:%M:%S.%gZ')::TIMESTAMP_MS`;
const select = `SELECT
  '${bucket.replaceAll("'", "''")}' AS bucket,
  url_decode(replace(Key, '+', ' ')) AS key,
  ${str('VersionId')} AS version_id,
  ${bool('IsLatest')} AS is_latest,
  ${bool('IsDeleteMarker')} AS is_delete_marker,
  nullif(Size, '')::BIGINT AS size,
  ${time('LastModifiedDate')} AS last_modified_date,
  ${str('ETag')} AS e_tag,
  ${str('StorageClass')} AS storage_class,
  ${bool('IsMultipartUploaded')} AS is_multipart_uploaded,
  ${str('ReplicationStatus')} AS replication_status,
  ${str('EncryptionStatus')} AS encryption_status,
  ${time('ObjectLockRetainUntilDate')} AS object_lock_retain_until_date,
  ${str('ObjectLockMode')} AS object_lock_mode,
  ${str('ObjectLockLegalHoldStatus')} AS object_lock_legal_hold_status,
  ${str('IntelligentTieringAccessTier')} AS intelligent_tiering_access_tier,
  ${str('BucketKeyStatus')} AS bucket_key_status,
  ${str('ChecksumAlgorithm')} AS checksum_algorithm`;

function md5(path) {
  return new Promise((resolve, reject) => {
    const h = createHash('md5');
    createReadStream(path).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

const db = await DuckDBInstance.create(':memory:', { threads: '2' });
const c = await db.connect();
await c.run("SET TimeZone = 'UTC'");
await c.run('SET preserve_insertion_order = true');
for (const file of files) {
  const name = basename(file).replace(/\.csv\.gz$/, '') + '.parquet';
  const out = `${outdir}/${name}`;
  const cols = '{' + csvColumns.map((n) => `'${n}': 'VARCHAR'`).join(', ') + '}';
  await c.run(`COPY (${select} FROM read_csv('${file}', columns = ${cols}, header = false,
      quote = '"', escape = '"', delim = ',', compression = 'gzip', parallel = false))
    TO '${out}' (FORMAT parquet, COMPRESSION ${compression}, ROW_GROUP_SIZE ${rowGroup})`);
  const rows = await c.runAndReadAll(`SELECT count(*)::BIGINT FROM '${out}'`);
  console.log(`data ${out} ${prefix}/data/${name} ${statSync(out).size} ${await md5(out)} ` +
    `${rows.getRows()[0][0]}`);
}
console.log(`seconds ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2)}`);
