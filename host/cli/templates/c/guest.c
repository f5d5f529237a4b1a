// {{name}}: an Arbor guest in C.
//
// `init` gets the tree file's `args` and sets `*ret` to RUNNING (or IGNORE:
// start nothing, the child stays stopped); each message is handled by
// `handle`; `terminate` runs on an orderly stop. Return false with `err` set to answer
// the caller with an error; __builtin_trap() is a crash: Arbor drops this
// instance and its supervisor decides whether a fresh one starts.
//
// Ownership (wit-bindgen's C ABI): arguments are yours to free; results are
// malloc'd here and freed by the generated post-return functions.

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervised.h"

static uint64_t handled;  // instance state: fresh after every restart

static bool is(const supervised_list_u8_t *m, const char *text) {
  return m->len == strlen(text) && memcmp(m->ptr, text, m->len) == 0;
}

static void set_text(uint8_t **ptr, size_t *len, const char *text) {
  *len = strlen(text);
  *ptr = *len ? malloc(*len) : NULL;
  if (*len) memcpy(*ptr, text, *len);
}

bool exports_arbor_supervised_lifecycle_init(supervised_list_u8_t *args,
                                             exports_arbor_supervised_lifecycle_init_outcome_t *ret,
                                             supervised_string_t *err) {
  (void)err;
  supervised_list_u8_free(args);
  supervised_string_t line = {(uint8_t *)"{{name}} starting", strlen("{{name}} starting")};
  arbor_supervised_host_log(ARBOR_SUPERVISED_HOST_LEVEL_INFO, &line);
  *ret = EXPORTS_ARBOR_SUPERVISED_LIFECYCLE_INIT_OUTCOME_RUNNING;
  return true;
}

bool exports_arbor_supervised_lifecycle_handle(supervised_list_u8_t *message, supervised_list_u8_t *ret,
                                              supervised_string_t *err) {
  handled++;
  bool ok = true;
  if (is(message, "ping")) {
    set_text(&ret->ptr, &ret->len, "pong");
  } else if (is(message, "count")) {
    char digits[21];
    int n = 20;
    uint64_t v = handled;
    digits[20] = '\0';
    do {
      digits[--n] = (char)('0' + v % 10);
      v /= 10;
    } while (v);
    set_text(&ret->ptr, &ret->len, digits + n);
  } else if (is(message, "crash")) {
    __builtin_trap();
  } else {
    set_text(&err->ptr, &err->len, "unknown message");
    ok = false;
  }
  supervised_list_u8_free(message);
  return ok;
}

void exports_arbor_supervised_lifecycle_terminate(arbor_supervised_types_exit_reason_t *reason) {
  arbor_supervised_types_exit_reason_free(reason);
}
