// notification.c: the order system's notification service, in C, the last
// service of the `rest_for_one` supervisor (it restarts whenever inventory or
// payment does). It stands for the mail or SMS gateway: it counts and logs
// what it is told to send.
//
//   notify ID STATUS   (cast by a processor) logs the notification, replies `sent`
//   count              replies how many notifications this instance has sent
//   crash              traps (__builtin_trap: wasm `unreachable`)
//
// Built against contract 0.1.0 with wit-bindgen's C bindings and zig cc (by
// guest-artifacts/build.rs), so one tree runs guests of both contract versions.

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervised.h"

static uint64_t SENT = 0;

static bool starts_with(const supervised_list_u8_t *m, const char *prefix) {
  size_t n = strlen(prefix);
  return m->len >= n && memcmp(m->ptr, prefix, n) == 0;
}

static bool is(const supervised_list_u8_t *m, const char *word) {
  return m->len == strlen(word) && memcmp(m->ptr, word, m->len) == 0;
}

// A reply of `len` bytes copied from `text` (freed by the post-return function).
static void reply(supervised_list_u8_t *ret, const char *text, size_t len) {
  ret->ptr = len ? malloc(len) : NULL;
  if (len && !ret->ptr) __builtin_trap();
  memcpy(ret->ptr, text, len);
  ret->len = len;
}

static void fail(supervised_string_t *err, const char *text) {
  size_t len = strlen(text);
  err->ptr = malloc(len);
  if (!err->ptr) __builtin_trap();
  memcpy(err->ptr, text, len);
  err->len = len;
}

bool exports_arbor_supervised_lifecycle_init(supervised_list_u8_t *args, supervised_string_t *err) {
  (void)err;
  supervised_list_u8_free(args);
  return true;
}

bool exports_arbor_supervised_lifecycle_handle(supervised_list_u8_t *message, supervised_list_u8_t *ret,
                                               supervised_string_t *err) {
  bool ok = true;
  if (is(message, "crash")) {
    __builtin_trap();
  } else if (starts_with(message, "notify ")) {
    SENT++;
    // Log "notification: ID STATUS" through the host, tagged with our path.
    size_t n = message->len - strlen("notify ");
    char *line = malloc(n + 14);
    if (!line) __builtin_trap();
    memcpy(line, "notification: ", 14);
    memcpy(line + 14, message->ptr + strlen("notify "), n);
    supervised_string_t text = {(uint8_t *)line, n + 14};
    arbor_supervised_host_log(ARBOR_SUPERVISED_HOST_LEVEL_DEBUG, &text);
    free(line);
    reply(ret, "sent", 4);
  } else if (is(message, "count")) {
    // Digits by hand: printf would pull stdio (and WASI imports) into the module.
    char digits[20];
    size_t at = sizeof digits;
    uint64_t n = SENT;
    do {
      digits[--at] = (char)('0' + n % 10);
      n /= 10;
    } while (n);
    reply(ret, digits + at, sizeof digits - at);
  } else {
    fail(err, "unknown message (expected notify ID STATUS, count or crash)");
    ok = false;
  }
  supervised_list_u8_free(message);
  return ok;
}

void exports_arbor_supervised_lifecycle_terminate(arbor_supervised_types_exit_reason_t *reason) {
  arbor_supervised_types_exit_reason_free(reason);
}
