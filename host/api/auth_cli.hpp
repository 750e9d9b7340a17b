// `skulk-host api-key ...`: makes keys for the API key file (auth.hpp).
//
//   skulk-host api-key add --scope inference|admin [--file F] [--label TEXT]
//       makes a random key, appends its hash to F (default $SKULK_API_KEYS;
//       created 0600), prints the key once on stdout.
//   skulk-host api-key hash --scope inference|admin [--label TEXT]
//       reads a key from stdin and prints its key-file line.
#pragma once

namespace skulk::api {

int api_key_command(int argc, char **argv); // argv[0] == "api-key"

} // namespace skulk::api
