// schema.js - speedscope files against speedscope's own file-format schema, which its
// npm package ships (tests/flame-tests.sh runs it):
//   node tests/browser/schema.js FILE...
// Prints "PASS schema NAME" or "FAIL schema NAME: the validator's errors" per file.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

const schemaPath = require.resolve('speedscope/dist/release/file-format-schema.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
delete schema.$schema; // the draft-07 meta-schema is Ajv's default
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
let failed = 0;
for (const file of process.argv.slice(2)) {
  const name = path.basename(file);
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    failed++;
    console.log(`FAIL schema ${name}: not JSON: ${e.message}`);
    continue;
  }
  if (validate(doc)) {
    console.log(`PASS schema ${name}`);
  } else {
    failed++;
    console.log(`FAIL schema ${name}: ${ajv.errorsText(validate.errors).slice(0, 500)}`);
  }
}
process.exit(failed ? 1 : 0);
