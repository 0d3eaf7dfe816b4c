// Validates an OpenAPI document against the official JSON Schema of its
// version, with @seriousme/openapi-schema-validator. Usage:
//   node validate.mjs FILE VERSION     (VERSION such as "3.2")
import { Validator } from "@seriousme/openapi-schema-validator";

const [file, want] = process.argv.slice(2);
const validator = new Validator();
const res = await validator.validate(file);
if (!res.valid) {
  console.error(JSON.stringify(res.errors, null, 2));
  process.exit(1);
}
if (validator.version !== want) {
  console.error(`validated as OpenAPI ${validator.version}, want ${want}`);
  process.exit(1);
}
console.log(`valid OpenAPI ${validator.version}`);
