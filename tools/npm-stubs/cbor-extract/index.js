// cbor-x loads cbor-extract in a try/catch and falls back to plain JavaScript when it cannot: say so.
throw new Error("cbor-extract is not installed in this project (tools/npm-stubs): cbor-x uses plain JavaScript");
