/* guest_test.c - the SDKs' side of the host ABI, checked on the real example modules
 * (built by the fixture sdk/every_example_builds_offline_...) run through src/wasm.
 *
 * The host functions here are the test's instruments, not a Slung host: they record
 * what the guest asks for and answer per shared/spec/workflows.md (Regions handed to
 * the guest are made with the guest's own `allocate`), so the test can check that the
 * SDKs pass Regions correctly, parse events, loop on "no event yet", free what the host
 * returns, propagate errors out of `call`, and print through fd_write. The real host
 * (src/workflow) is tested end to end with these same modules by the workflow tests. */
#include <stdlib.h>

#include "base/err.h"
#include "test.h"
#include "wasm/wasm.h"

#ifndef SDK_EXAMPLES_DIR
#error "SDK_EXAMPLES_DIR must name the directory build-examples.sh writes"
#endif

#define MAX_EVENTS 64
#define MAX_CALLS 256

typedef struct host_call {
    char name[24];     /* u_writeback_ws, u_write_event, ... */
    uint64_t num;      /* producer / handle / method */
    char text[3][256]; /* the Region arguments, as text */
} host_call;

typedef struct host {
    wasm_store *store;
    wasm_instance *inst;
    const char *events[MAX_EVENTS]; /* JSON to deliver, in order */
    int event_count;
    int next_event;
    int polls;                        /* u_poll_handle calls */
    uint32_t event_addrs[MAX_EVENTS]; /* guest address of each event's data */
    host_call calls[MAX_CALLS];
    int call_count;
    const char *http_response; /* body u_writeback_http returns, NULL for none */
    double history;            /* what u_query_history answers */
    char out[8192];            /* fd 1 and 2 */
    size_t out_len;
} host;

/* Reads the guest Region at addr as text (bounds-checked). */
static int region_text(wasm_instance *inst, uint32_t addr, char *out, size_t cap) {
    uint32_t r[3];
    wasm_memory *mem = wasm_instance_memory(inst);
    if (wasm_memory_read(mem, addr, r, sizeof(r)) < 0) return -1;
    if (r[2] > r[1]) return -1; /* length > capacity */
    size_t n = r[2] < cap - 1 ? r[2] : cap - 1;
    if (wasm_memory_read(mem, r[0], out, n) < 0) return -1;
    out[n] = '\0';
    return 0;
}

/* Hands bytes to the guest as the spec says: allocate(len) for the data, allocate(12)
 * for the Region {data, len, len}; returns the Region's address (0 on failure). */
static uint32_t give(host *h, const char *s, uint32_t *data_addr) {
    wasm_extern alloc;
    wasm_diag d;
    uint32_t len = (uint32_t)strlen(s);
    if (wasm_instance_export(h->inst, "allocate", &alloc) < 0) return 0;
    wasm_val arg = {.type = WASM_I32, .of.i32 = len};
    wasm_val res;
    if (wasm_func_call(h->store, alloc.of.func, &arg, 1, &res, 1, &d) < 0) return 0;
    uint32_t data = res.of.i32;
    arg.of.i32 = 12;
    if (wasm_func_call(h->store, alloc.of.func, &arg, 1, &res, 1, &d) < 0) return 0;
    uint32_t region = res.of.i32;
    uint32_t r[3] = {data, len, len};
    wasm_memory *mem = wasm_instance_memory(h->inst);
    if (wasm_memory_write(mem, data, s, len) < 0 || wasm_memory_write(mem, region, r, 12) < 0)
        return 0;
    if (data_addr) *data_addr = data;
    return region;
}

static host_call *record(host *h, const char *name) {
    if (h->call_count >= MAX_CALLS) return NULL;
    host_call *c = &h->calls[h->call_count++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

static void set_i32(wasm_val *v, uint32_t x) {
    v->type = WASM_I32;
    v->of.i32 = x;
}

static const char *h_query_live(wasm_instance *caller, void *env, const wasm_val *args,
                                wasm_val *results) {
    host_call *c = record(env, "u_query_live");
    if (!c || region_text(caller, args[0].of.i32, c->text[0], sizeof c->text[0]) < 0)
        return "bad region";
    results[0].type = WASM_I64;
    results[0].of.i64 = 1;
    return NULL;
}

static const char *h_query_history(wasm_instance *caller, void *env, const wasm_val *args,
                                   wasm_val *results) {
    host *h = env;
    host_call *c = record(h, "u_query_history");
    if (!c || region_text(caller, args[0].of.i32, c->text[0], sizeof c->text[0]) < 0)
        return "bad region";
    results[0].type = WASM_F64;
    memcpy(&results[0].of.f64_bits, &h->history, 8);
    return NULL;
}

/* Every other poll answers "none yet" (0); after the last event the test stops the
 * guest with a trap, as the real host stops a workflow. */
static const char *h_poll_handle(wasm_instance *caller, void *env, const wasm_val *args,
                                 wasm_val *results) {
    host *h = env;
    (void)caller;
    (void)args;
    set_i32(&results[0], 0);
    if (h->polls++ % 2 == 0) return NULL;
    if (h->next_event >= h->event_count) return "test: no more events";
    int i = h->next_event++;
    uint32_t r = give(h, h->events[i], &h->event_addrs[i]);
    if (!r) return "test: could not hand the event over";
    set_i32(&results[0], r);
    return NULL;
}

static const char *h_free_handle(wasm_instance *caller, void *env, const wasm_val *args,
                                 wasm_val *results) {
    (void)caller;
    host_call *c = record(env, "u_free_handle");
    if (c) c->num = args[0].of.i64;
    set_i32(&results[0], args[0].of.i64 == 1 ? 0 : 1);
    return NULL;
}

static const char *h_write_event(wasm_instance *caller, void *env, const wasm_val *args,
                                 wasm_val *results) {
    host_call *c = record(env, "u_write_event");
    for (int i = 0; c && i < 3; i++)
        if (region_text(caller, args[i].of.i32, c->text[i], sizeof c->text[i]) < 0)
            return "bad region";
    set_i32(&results[0], 0);
    return NULL;
}

/* Producer 99 is a closed connection. */
static const char *h_writeback_ws(wasm_instance *caller, void *env, const wasm_val *args,
                                  wasm_val *results) {
    host_call *c = record(env, "u_writeback_ws");
    if (!c || region_text(caller, args[1].of.i32, c->text[0], sizeof c->text[0]) < 0)
        return "bad region";
    c->num = args[0].of.i64;
    set_i32(&results[0], c->num == 99 ? 1 : 0);
    return NULL;
}

static const char *h_writeback_http(wasm_instance *caller, void *env, const wasm_val *args,
                                    wasm_val *results) {
    host *h = env;
    host_call *c = record(h, "u_writeback_http");
    if (!c || region_text(caller, args[0].of.i32, c->text[0], sizeof c->text[0]) < 0 ||
        region_text(caller, args[1].of.i32, c->text[1], sizeof c->text[1]) < 0)
        return "bad region";
    c->num = args[2].of.i32;
    set_i32(&results[0], h->http_response ? give(h, h->http_response, NULL) : 0);
    return NULL;
}

static const char *h_fd_write(wasm_instance *caller, void *env, const wasm_val *args,
                              wasm_val *results) {
    host *h = env;
    wasm_memory *mem = wasm_instance_memory(caller);
    uint32_t total = 0;
    set_i32(&results[0], 21);
    for (uint32_t i = 0; i < args[2].of.i32; i++) {
        uint32_t iov[2];
        if (wasm_memory_read(mem, (uint64_t)args[1].of.i32 + 8ull * i, iov, 8) < 0) return NULL;
        size_t room = sizeof(h->out) - 1 - h->out_len;
        size_t take = iov[1] < room ? iov[1] : room;
        if (wasm_memory_read(mem, iov[0], h->out + h->out_len, take) < 0) return NULL;
        h->out_len += take;
        h->out[h->out_len] = '\0';
        total += iov[1];
    }
    if (wasm_memory_write(mem, args[3].of.i32, &total, 4) < 0) return NULL;
    set_i32(&results[0], 0);
    return NULL;
}

static const char *h_zero_sizes(wasm_instance *caller, void *env, const wasm_val *args,
                                wasm_val *results) {
    (void)env;
    uint32_t zero = 0;
    wasm_memory *mem = wasm_instance_memory(caller);
    set_i32(&results[0], 0);
    if (wasm_memory_write(mem, args[0].of.i32, &zero, 4) < 0 ||
        wasm_memory_write(mem, args[1].of.i32, &zero, 4) < 0)
        set_i32(&results[0], 21);
    return NULL;
}

static const char *h_environ_get(wasm_instance *caller, void *env, const wasm_val *args,
                                 wasm_val *results) {
    (void)caller;
    (void)env;
    (void)args;
    set_i32(&results[0], 0);
    return NULL;
}

static const char *h_proc_exit(wasm_instance *caller, void *env, const wasm_val *args,
                               wasm_val *results) {
    (void)caller;
    (void)env;
    (void)args;
    (void)results;
    return "proc_exit";
}

typedef struct guest {
    uint8_t *bytes;
    wasm_module *module;
    host h;
} guest;

static const struct {
    const char *module;
    const char *name;
    wasm_host_fn fn;
} host_fns[] = {
    {"env", "u_query_live", h_query_live},
    {"env", "u_query_history", h_query_history},
    {"env", "u_poll_handle", h_poll_handle},
    {"env", "u_free_handle", h_free_handle},
    {"env", "u_write_event", h_write_event},
    {"env", "u_writeback_ws", h_writeback_ws},
    {"env", "u_writeback_http", h_writeback_http},
    {"wasi_snapshot_preview1", "fd_write", h_fd_write},
    {"wasi_snapshot_preview1", "environ_sizes_get", h_zero_sizes},
    {"wasi_snapshot_preview1", "environ_get", h_environ_get},
    {"wasi_snapshot_preview1", "proc_exit", h_proc_exit},
};

static bool guest_load(guest *g, const char *file) {
    char path[512];
    wasm_diag d;
    size_t n;
    memset(g, 0, sizeof(*g));
    snprintf(path, sizeof path, "%s/%s", SDK_EXAMPLES_DIR, file);
    g->bytes = test_read_file(path, &n);
    if (!g->bytes) {
        test_fail(__FILE__, __LINE__, "%s is missing (built by sdk/build-examples.sh)", path);
        return false;
    }
    if (wasm_module_new(g->bytes, n, &g->module, &d) < 0) {
        test_fail(__FILE__, __LINE__, "%s: %s", file, d.msg);
        return false;
    }
    wasm_limits limits;
    memset(&limits, 0, sizeof(limits));
    if (wasm_store_new(&limits, &g->h.store) < 0) return false;
    wasm_extern imports[16];
    size_t ni = wasm_module_import_count(g->module);
    if (ni > 16) return false;
    for (size_t i = 0; i < ni; i++) {
        wasm_import_info info;
        wasm_module_import(g->module, i, &info);
        imports[i].kind = WASM_EXTERN_FUNC;
        imports[i].of.func = NULL;
        for (size_t k = 0; k < sizeof host_fns / sizeof host_fns[0]; k++)
            if (strcmp(info.module, host_fns[k].module) == 0 &&
                strcmp(info.name, host_fns[k].name) == 0)
                imports[i].of.func =
                    wasm_func_new_host(g->h.store, &info.func, host_fns[k].fn, &g->h);
        if (!imports[i].of.func) {
            test_fail(__FILE__, __LINE__, "%s imports %s.%s", file, info.module, info.name);
            return false;
        }
    }
    if (wasm_instantiate(g->h.store, g->module, imports, ni, &g->h.inst, &d) < 0) {
        test_fail(__FILE__, __LINE__, "%s: %s", file, d.msg);
        return false;
    }
    return true;
}

static void guest_free(guest *g) {
    wasm_store_free(g->h.store);
    wasm_module_free(g->module);
    free(g->bytes);
}

/* Runs the export `call`; returns its status, the i32 result in *ret. */
static int guest_call(guest *g, int32_t *ret, wasm_diag *d) {
    wasm_extern e;
    wasm_val res;
    memset(d, 0, sizeof(*d));
    if (wasm_instance_export(g->h.inst, "call", &e) < 0) return SL_ENOTFOUND;
    int rc = wasm_func_call(g->h.store, e.of.func, NULL, 0, &res, 1, d);
    *ret = rc == 0 ? (int32_t)res.of.i32 : -1;
    return rc;
}

static int count_calls(const host *h, const char *name) {
    int n = 0;
    for (int i = 0; i < h->call_count; i++)
        n += strcmp(h->calls[i].name, name) == 0;
    return n;
}

/* The nth recorded call of that name; an empty record (name "") if there is none, so
 * the checks that follow fail instead of crashing. */
static const host_call *nth_call(const host *h, const char *name, int nth) {
    static const host_call none;
    for (int i = 0; i < h->call_count; i++)
        if (strcmp(h->calls[i].name, name) == 0 && nth-- == 0) return &h->calls[i];
    return &none;
}

#define EV_HIGH                                                                                    \
    "{\"timestamp\":1709481600000000000,\"value\":150.5,\"tags\":[\"sensor=1\"],\"producers\":[3," \
    "7]}"
#define EV_LOW                                                                                     \
    "{\"timestamp\":1709481600000000001,\"value\":50,\"tags\":[\"sensor=1\"],\"producers\":[3]}"
#define EV_CLOSED "{\"timestamp\":5,\"value\":200,\"tags\":[],\"producers\":[99]}"

static void check_alert(const char *file) {
    guest g;
    int32_t ret;
    wasm_diag d;
    if (!guest_load(&g, file)) {
        guest_free(&g);
        return;
    }
    host *h = &g.h;
    /* 40 events alternating above/below the threshold. */
    for (int i = 0; i < 40; i++)
        h->events[h->event_count++] = (i % 2 == 0) ? EV_HIGH : EV_LOW;
    int rc = guest_call(&g, &ret, &d);
    CHECK_EQ_INT(rc, SL_ETRAP); /* the test's "no more events" trap stopped it */
    CHECK_MSG(strstr(d.msg, "no more events") != NULL, "%s: %s", file, d.msg);
    CHECK_EQ_STR(nth_call(h, "u_query_live", 0)->text[0], "AVG:temp:[sensor=1]");
    CHECK_EQ_INT(h->next_event, 40);
    CHECK_EQ_INT(count_calls(h, "u_writeback_ws"), 40); /* 20 high events x 2 producers */
    const host_call *c0 = nth_call(h, "u_writeback_ws", 0);
    const host_call *c1 = nth_call(h, "u_writeback_ws", 1);
    CHECK_EQ_U64(c0->num, 3);
    CHECK_EQ_U64(c1->num, 7);
    CHECK_EQ_STR(c0->text[0], "ALERT: threshold exceeded");
    CHECK(strstr(h->out, "event timestamp=1709481600000000000 value=150.5\n") == h->out);
    /* The guest frees every event the host hands it: the allocator reuses the space,
     * so 40 events occupy only a handful of distinct addresses. */
    int distinct = 0;
    for (int i = 0; i < 40; i++) {
        bool seen = false;
        for (int k = 0; k < i; k++)
            seen |= h->event_addrs[k] == h->event_addrs[i];
        distinct += !seen;
    }
    CHECK_MSG(distinct <= 4, "%s: 40 events used %d distinct addresses (leak?)", file, distinct);
    guest_free(&g);

    /* A closed connection makes writeback_ws fail; the error leaves `call` as 1. */
    if (!guest_load(&g, file)) {
        guest_free(&g);
        return;
    }
    h = &g.h;
    h->events[h->event_count++] = EV_CLOSED;
    CHECK_EQ_INT(guest_call(&g, &ret, &d), 0);
    CHECK_EQ_INT(ret, 1);
    CHECK_MSG(strstr(h->out, "workflow failed") != NULL, "%s printed: %s", file, h->out);
    guest_free(&g);
}

TEST(rust_alert_example_gets_events_writes_back_to_each_producer_and_frees_what_the_host_gives) {
    check_alert("alert_system.wasm");
}

TEST(c_alert_example_gets_events_writes_back_to_each_producer_and_frees_what_the_host_gives) {
    check_alert("c_alert_system.wasm");
}

static void check_json_response(const char *file, const char *want) {
    guest g;
    int32_t ret;
    wasm_diag d;
    if (!guest_load(&g, file)) {
        guest_free(&g);
        return;
    }
    g.h.events[g.h.event_count++] = EV_HIGH;
    g.h.events[g.h.event_count++] =
        "{\"timestamp\":-1,\"value\":null,\"tags\":[],\"producers\":[4]}";
    CHECK_EQ_INT(guest_call(&g, &ret, &d), SL_ETRAP);
    CHECK_EQ_INT(count_calls(&g.h, "u_writeback_ws"), 3);
    CHECK_EQ_STR(nth_call(&g.h, "u_writeback_ws", 0)->text[0], want);
    /* value null arrives as NaN, which JSON cannot carry: serde_json writes null, the
     * C SDK's %g writes NaN. Either way the producer gets a message. */
    CHECK_EQ_U64(nth_call(&g.h, "u_writeback_ws", 2)->num, 4);
    guest_free(&g);
}

TEST(json_response_examples_send_the_event_as_json_to_its_producers) {
    /* serde_json sorts object keys; the C example writes them in source order. */
    check_json_response("json_response.wasm",
                        "{\"status\":\"high\",\"timestamp\":1709481600000000000,\"value\":150.5}");
    check_json_response("c_json_response.wasm",
                        "{\"timestamp\":1709481600000000000,\"value\":150.5,\"status\":\"high\"}");
}

static void check_post_alert(const char *file, const char *url_suffix, const char *printed) {
    guest g;
    int32_t ret;
    wasm_diag d;
    if (!guest_load(&g, file)) {
        guest_free(&g);
        return;
    }
    g.h.http_response = "{\"ok\":true}";
    g.h.events[g.h.event_count++] =
        "{\"timestamp\":10,\"value\":95.25,\"tags\":[],\"producers\":[1]}";
    g.h.events[g.h.event_count++] = "{\"timestamp\":11,\"value\":12,\"tags\":[],\"producers\":[1]}";
    CHECK_EQ_INT(guest_call(&g, &ret, &d), SL_ETRAP);
    CHECK_EQ_STR(nth_call(&g.h, "u_query_live", 0)->text[0], "AVG:cpu:[host=prod]:[5min]");
    CHECK_EQ_INT(count_calls(&g.h, "u_writeback_http"), 1);
    const host_call *c = nth_call(&g.h, "u_writeback_http", 0);
    size_t ul = strlen(c->text[0]);
    size_t sl = strlen(url_suffix);
    CHECK_MSG(ul >= sl && strcmp(c->text[0] + ul - sl, url_suffix) == 0, "url %s", c->text[0]);
    CHECK_EQ_STR(c->text[1], "{\"timestamp\":10,\"value\":95.25,\"threshold\":80}");
    CHECK_EQ_U64(c->num, 1); /* POST */
    CHECK_MSG(strstr(g.h.out, printed) != NULL, "%s printed: %s", file, g.h.out);
    guest_free(&g);
}

TEST(post_alert_examples_post_the_seed_payload_and_print_the_response_body) {
    check_post_alert("post_alert.wasm", "https://api.example.com/alerts",
                     "Alert sent, response: \"{\\\"ok\\\":true}\"\n");
    check_post_alert("e2e_post_alert.wasm", "/alerts",
                     "Alert sent, response: \"{\\\"ok\\\":true}\"\n");
    check_post_alert("c_post_alert.wasm", "/alerts", "Alert sent, response: {\"ok\":true}\n");
}

TEST(http_method_example_sends_get_put_and_delete_with_the_spec_method_numbers) {
    guest g;
    int32_t ret;
    wasm_diag d;
    if (!guest_load(&g, "e2e_http_methods.wasm")) {
        guest_free(&g);
        return;
    }
    g.h.http_response = "mode=fast";
    g.h.history = 42.5;
    CHECK_EQ_INT(guest_call(&g, &ret, &d), 0);
    CHECK_EQ_INT(ret, 0);
    CHECK_EQ_INT(count_calls(&g.h, "u_writeback_http"), 3);
    const host_call *get = nth_call(&g.h, "u_writeback_http", 0);
    const host_call *put = nth_call(&g.h, "u_writeback_http", 1);
    const host_call *del = nth_call(&g.h, "u_writeback_http", 2);
    CHECK_EQ_U64(get->num, 0);
    CHECK_EQ_STR(get->text[1], "");
    CHECK_EQ_U64(put->num, 2);
    CHECK_EQ_STR(put->text[1], "{\"value\":42.5}");
    CHECK(strstr(put->text[0], "/metrics/cpu-prod") != NULL);
    CHECK_EQ_U64(del->num, 3);
    CHECK(strstr(del->text[0], "/alerts/42") != NULL);
    CHECK(strstr(g.h.out, "config: mode=fast\n") != NULL);
    guest_free(&g);
}

TEST(derive_example_writes_events_as_decimal_text_regions_and_frees_its_handle) {
    guest g;
    int32_t ret;
    wasm_diag d;
    if (!guest_load(&g, "e2e_derive.wasm")) {
        guest_free(&g);
        return;
    }
    g.h.history = 20.0;
    g.h.events[g.h.event_count++] =
        "{\"timestamp\":1000,\"value\":21.5,\"tags\":[],\"producers\":[0]}";
    g.h.events[g.h.event_count++] =
        "{\"timestamp\":-2000,\"value\":19,\"tags\":[],\"producers\":[0]}";
    g.h.events[g.h.event_count++] =
        "{\"timestamp\":3000,\"value\":1e300,\"tags\":[],\"producers\":[]}";
    CHECK_EQ_INT(guest_call(&g, &ret, &d), 0);
    CHECK_EQ_INT(ret, 0);
    CHECK_EQ_INT(count_calls(&g.h, "u_write_event"), 3);
    const host_call *w0 = nth_call(&g.h, "u_write_event", 0);
    const host_call *w1 = nth_call(&g.h, "u_write_event", 1);
    CHECK_EQ_STR(w0->text[0], "1000");
    CHECK_EQ_STR(w0->text[1], "1.5");
    CHECK_EQ_STR(w0->text[2], "series=temp_delta,sensor=1");
    CHECK_EQ_STR(w1->text[0], "-2000");
    CHECK_EQ_STR(w1->text[1], "-1");
    CHECK_EQ_INT(count_calls(&g.h, "u_free_handle"), 1);
    CHECK_EQ_U64(nth_call(&g.h, "u_free_handle", 0)->num, 1);
    CHECK(strstr(g.h.out, "baseline 20\n") != NULL);
    guest_free(&g);
}

TEST(a_malformed_event_stops_the_workflow_with_an_error_instead_of_crashing_it) {
    const char *files[] = {"alert_system.wasm", "c_alert_system.wasm"};
    for (size_t i = 0; i < 2; i++) {
        guest g;
        int32_t ret;
        wasm_diag d;
        if (!guest_load(&g, files[i])) {
            guest_free(&g);
            return;
        }
        g.h.events[g.h.event_count++] =
            "{\"timestamp\":1,\"value\":\"high\",\"tags\":[],\"producers\":[]}";
        CHECK_EQ_INT(guest_call(&g, &ret, &d), 0);
        CHECK_EQ_INT(ret, 1);
        CHECK_MSG(strstr(g.h.out, "malformed event") != NULL, "%s printed: %s", files[i], g.h.out);
        guest_free(&g);
    }
}
