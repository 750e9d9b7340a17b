/* Compiled as strict C11 (-std=c11 -pedantic -Werror -Wall -Wextra): the
 * public ABI header must stay pure C. The asserts pin the rules of abi.h
 * that a C compiler can check: every struct starts with its size, and the
 * frozen numbers stay frozen. */
#include <skulk/abi.h>

#include <stddef.h>

_Static_assert(offsetof(skulk_host_api, size) == 0, "size first");
_Static_assert(offsetof(skulk_plugin_info, size) == 0, "size first");
_Static_assert(offsetof(skulk_compute_v1, size) == 0, "size first");
_Static_assert(offsetof(skulk_served_v1, size) == 0, "size first");
_Static_assert(offsetof(skulk_adapter_v1, size) == 0, "size first");
_Static_assert(offsetof(skulk_tensor, size) == 0, "size first");
_Static_assert(offsetof(skulk_batch, size) == 0, "size first");
_Static_assert(offsetof(skulk_model_params, size) == 0, "size first");
_Static_assert(offsetof(skulk_compute_options, size) == 0, "size first");
_Static_assert(SKULK_OK == 0 && SKULK_E_INVALID == 1 && SKULK_E_UNSUPPORTED == 2 && SKULK_E_NOMEM == 3 &&
                   SKULK_E_UPSTREAM == 4 && SKULK_E_CANCELLED == 5 && SKULK_E_INTERNAL == 6 && SKULK_E_VERSION == 7,
               "status codes are frozen");
/* Append-only: minor 1's field comes after every field of minor 0. */
_Static_assert(offsetof(skulk_plugin_info, get_proc_address) > offsetof(skulk_plugin_info, shutdown),
               "get_proc_address (minor 1) is appended after shutdown (minor 0)");
_Static_assert(offsetof(skulk_plugin_info, get_proc_address) + sizeof(skulk_proc) == sizeof(skulk_plugin_info),
               "get_proc_address is the last field of skulk_plugin_info");
_Static_assert(SKULK_KIND_COMPUTE == 1 && SKULK_KIND_SERVED == 2 && SKULK_KIND_ADAPTER == 3, "kinds are frozen");

/* A translation unit must declare something under -pedantic. */
int skulk_abi_c11_check(void);
int skulk_abi_c11_check(void) { return SKULK_ABI_MAJOR; }
