/* compile.c - translates a validated function body into register-style threaded code
 * (see runtime_internal.h for the frame layout and exec.c for each instruction's cells).
 *
 * Operand heights are static in validated code, so the operand at height h lives in
 * frame slot nlocals + h. One pass keeps a virtual stack of where each operand's value
 * is: STK (in its slot), LOC (still in local i: local.get emits nothing) or CONST (a
 * constant: i32.const emits nothing). An instruction reads its operands from wherever
 * they are (integer ops take a constant right operand directly, the _sc forms) and
 * writes its result into its slot. Deferred entries are materialised into their slots
 * before anything that needs the stack in memory: branches, block boundaries, calls, the
 * stack-form ops, and a local.set of a local that a deferred entry still names.
 * Peepholes: a local.set right after the instruction that produced its value rewrites
 * that instruction's destination to the local (no copy); an i32 compare or i32.eqz
 * right before br_if / if becomes one compare-and-branch instruction; a commutative op
 * or compare with a constant left operand uses the constant form with operands swapped;
 * an add/sub/mul (or integer and/or/xor) whose right operand was loaded by the
 * instruction just before it absorbs the load (same bounds check, same trap, the load's
 * code offset);
 * an i32 add/sub of a constant just before a load or store that uses it as the address
 * is folded into the access's _k form (the wrap at 2^32 kept); a loop's back branch
 * testing a counter just incremented by a constant absorbs the add (addk_bif_*); an f64
 * compare (or its i32.eqz) before a forward br_if / if becomes fbif_/fbifn_; two
 * adjacent f64 add/sub/mul where the second takes the first's result become one ff_*;
 * two or three adjacent copies become one copy2 / copy3; f64_mul_ld + f64_add_ldst on its result become
 * f64_axpy; two i32 ops with constants in a row become ii_*, a select on x & k
 * select_andk, a select between two constants select_kk; two i32 adds of constants,
 * the first into a local, become add2k (split again if the second turns out to compute
 * an address). Fusions that look back at emitted code never reach across a branch
 * target (last_label).
 *
 * Control: block/if targets are forward; each branch cell joins the frame's fixup chain
 * (cell .u = previous entry + 1) and is patched at `end`; a loop's target is its first
 * instruction, reached through exec's interrupt check. Code after an unconditional
 * branch is dead until its frame's else/end and is not emitted. Target cells hold cell
 * indices while compiling (the buffer moves); the reloc list makes them pointers.
 *
 * Invariants: (1) at every label and branch all operands are in their slots (STK);
 * (2) the height never exceeds max_height, reserved in frame_slots, which exec checks
 * before entering a frame; (3) a rewritten destination never skips a label: every label
 * clears the peephole state; (4) every instruction has a (cell, code offset) pair
 * (f64_axpy has two: one per memory access).
 * Threads: runs at instantiation on the store's thread. */
#include <string.h>

#include "wasm/leb.h"
#include "wasm/module_internal.h"
#include "wasm/runtime_internal.h"

typedef enum { CTL_BLOCK, CTL_LOOP, CTL_IF, CTL_FUNC } ctl_kind;

typedef struct ctl {
    ctl_kind kind;       /* what opened it */
    uint32_t height;     /* operand height below the block's params */
    uint32_t nparams;    /* block params */
    uint32_t nresults;   /* block results */
    uint32_t start;      /* loop: cell index of its first instruction */
    uint32_t fixups;     /* chain of forward branch cells (index + 1), 0 = empty */
    uint32_t else_fix;   /* if: the branch-to-else target cell (index + 1), 0 once patched */
    bool dead;           /* code after an unconditional branch in this frame */
    bool dead_entry;     /* the block itself is in dead code */
} ctl;

typedef enum { V_STK = 0, V_LOC, V_CONST } vkind;

typedef struct ventry {
    uint8_t kind;   /* vkind */
    uint32_t local; /* V_LOC: the local holding the value */
    uint64_t k;     /* V_CONST: the value */
} ventry;

/* i32 compares that fuse with br_if / if (same order as WASM__IOPS_CMP). */
typedef struct cmpinfo {
    int op_ss, op_sc;     /* the plain compare */
    int bif_ss, bif_sc;   /* branch forward if true */
    int bifl_ss, bifl_sc; /* branch back (to a loop) if true: checks for an interrupt */
    int neg_ss, neg_sc;   /* branch forward if false (if) */
    int addk_ss, addk_sc; /* i32 add of a constant, then branch back if true (addk_bif) */
} cmpinfo;

#define WASM__CMP_ROW(name, neg)                                                       \
    {IOP_i32_##name##_ss, IOP_i32_##name##_sc, IOP_bif_##name##_ss, IOP_bif_##name##_sc, \
     IOP_bif_##name##_ssl, IOP_bif_##name##_scl, IOP_bif_##neg##_ss, IOP_bif_##neg##_sc, \
     IOP_addk_bif_##name##_ssl, IOP_addk_bif_##name##_scl},
static const cmpinfo cmps[] = {WASM__IOPS_CMP(WASM__CMP_ROW)};
#undef WASM__CMP_ROW

typedef struct comp {
    wasm_instance *inst;
    const wasm_module *m;
    const void *const *labels;
    wcell *code;
    uint32_t n;
    uint32_t cap;
    uint32_t *relocs;
    uint32_t reloc_n;
    uint32_t reloc_cap;
    uint32_t *offs;      /* pairs (cell, code offset) */
    uint32_t offs_n;     /* pairs used */
    uint32_t offs_cap;   /* u32s allocated */
    ctl *ctls;
    uint32_t ctl_n;
    uint32_t ctl_cap;
    ventry *vs;          /* the virtual operand stack; height entries */
    uint32_t vs_cap;
    uint32_t height;
    uint32_t max_height;
    uint32_t nlocals;    /* params + declared locals */
    uint32_t res_cell;   /* first immediate cell (w(dst, ..)) of the last result producer */
    uint32_t res_end;    /* c->n right after it; UINT32_MAX: none */
    uint32_t last_label; /* cell index of the last branch target (loop start, else, end) */
    uint32_t copy_pos;   /* cell of the last single copy */
    uint32_t copy_end;   /* c->n right after it; UINT32_MAX: none */
    uint32_t add_pos;    /* cell of the last i32 add/sub of a constant (i32_add_sc) */
    uint32_t add_end;    /* c->n right after it; UINT32_MAX: none */
    uint32_t add_src;    /* its left operand's slot */
    uint32_t add_k;      /* the constant it adds (a subtraction's, negated) */
    uint32_t ld_pos;     /* cell of the last load */
    uint32_t ld_end;     /* c->n right after it; UINT32_MAX: none */
    int ld_iop;          /* which load (its plain form) */
    uint32_t ld_k;       /* the constant folded into its address (_k form), else 0 */
    uint32_t rmw_pos;    /* cell of the last load-fused binary op (_ld) */
    uint32_t rmw_end;    /* c->n right after it; UINT32_MAX: none */
    int rmw_ld;          /* its iop (an IOP_*_ld) */
    int rmw_load;        /* the load it absorbed */
    uint32_t fcmp_pos;   /* cell of the last f64 compare */
    uint32_t fcmp_end;   /* c->n right after it; UINT32_MAX: none */
    int fcmp_row;        /* its row: eq ne lt gt le ge (WASM__IOPS_FCMP) */
    bool fcmp_sc;        /* _sc form */
    uint32_t fcmp_a;     /* its operands as emitted */
    uint64_t fcmp_b;
    uint32_t cmp_pos;    /* cell of the last i32 compare / eqz */
    uint32_t cmp_end;    /* c->n right after it; UINT32_MAX: none */
    int cmp_row;         /* its row in cmps, or -1 for i32.eqz */
    bool cmp_sc;         /* _sc form */
    uint32_t cmp_a;      /* its operands as emitted */
    uint64_t cmp_b;
    bool oom;
} comp;

static bool grow_u32(uint32_t **a, uint32_t *cap, uint32_t need) {
    if (need <= *cap) return true;
    uint32_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    uint32_t *p = mem_realloc(MEM_WASM, *a, (size_t)nc * sizeof(**a));
    if (!p) return false;
    *a = p;
    *cap = nc;
    return true;
}

static void put(comp *c, wcell v) {
    if (c->n == c->cap) {
        uint32_t nc = c->cap ? c->cap * 2 : 256;
        wcell *p = mem_realloc(MEM_WASM, c->code, (size_t)nc * sizeof(*p));
        if (!p) {
            c->oom = true;
            return;
        }
        c->code = p;
        c->cap = nc;
    }
    c->code[c->n++] = v;
}

static void put_u(comp *c, uint64_t u) { put(c, (wcell){.u = u}); }
static void put_p(comp *c, void *p) { put(c, (wcell){.p = p}); }
static void put_w(comp *c, uint32_t a, uint32_t b) { put(c, (wcell){.w = {a, b}}); }

/* Starts instruction iop at module offset off. */
static void op(comp *c, int iop, uint32_t off) {
    if (!grow_u32(&c->offs, &c->offs_cap, 2 * (c->offs_n + 1))) {
        c->oom = true;
        return;
    }
    c->offs[2 * c->offs_n] = c->n;
    c->offs[2 * c->offs_n + 1] = off;
    c->offs_n++;
    put(c, (wcell){.op = c->labels[iop]});
}

/* Removes the instructions from cell index pos on (a fused one replaces them). */
static void unemit(comp *c, uint32_t pos) {
    if (pos <= c->copy_pos) c->copy_end = UINT32_MAX;
    c->n = pos;
    while (c->offs_n && c->offs[2 * (c->offs_n - 1)] >= pos) c->offs_n--;
}

/* A label lands here: no peephole across it. */
static void label_here(comp *c) {
    c->res_end = UINT32_MAX;
    c->cmp_end = UINT32_MAX;
    c->ld_end = UINT32_MAX;
    c->rmw_end = UINT32_MAX;
    c->add_end = UINT32_MAX;
    c->fcmp_end = UINT32_MAX;
}

/* The last instruction produced the top operand (its w(dst, ..) is at cell). */
static void produced(comp *c, uint32_t cell) {
    c->res_cell = cell;
    c->res_end = c->n;
}

static uint32_t slot(const comp *c, uint32_t h) { return c->nlocals + h; }

static void vpush(comp *c, uint8_t kind, uint32_t local, uint64_t k) {
    if (c->height == c->vs_cap) {
        uint32_t nc = c->vs_cap ? c->vs_cap * 2 : 64;
        ventry *p = mem_realloc(MEM_WASM, c->vs, (size_t)nc * sizeof(*p));
        if (!p) {
            c->oom = true;
            return;
        }
        c->vs = p;
        c->vs_cap = nc;
    }
    c->vs[c->height].kind = kind;
    c->vs[c->height].local = local;
    c->vs[c->height].k = k;
    c->height++;
    if (c->height > c->max_height) c->max_height = c->height;
}

static void vpop(comp *c, uint32_t k) {
    SL_ASSERT(c->height >= k);
    c->height -= k;
}

/* A branch target lands here (no instruction may be fused across it). */
static void target_here(comp *c) {
    c->last_label = c->n;
}

/* fp[dst] = fp[src]. Right after another copy (or two), with no branch target between,
 * they become one copy2 (copy3), done in order: a later copy may read what an earlier
 * one wrote. */
static void emit_copy(comp *c, uint32_t dst, uint32_t src, uint32_t off) {
    if (c->copy_end == c->n && c->last_label != c->n) {
        const void *was = c->code[c->copy_pos].op;
        if (was == c->labels[IOP_copy] || was == c->labels[IOP_copy2]) {
            c->code[c->copy_pos].op = c->labels[was == c->labels[IOP_copy] ? IOP_copy2 : IOP_copy3];
            put_w(c, dst, src);
            c->copy_end = was == c->labels[IOP_copy] ? c->n : UINT32_MAX;
            return;
        }
    }
    c->copy_pos = c->n;
    op(c, IOP_copy, off);
    put_w(c, dst, src);
    c->copy_end = c->n;
}

/* Puts the operand at height h into its slot. */
static void materialize(comp *c, uint32_t h, uint32_t off) {
    ventry *e = &c->vs[h];
    if (e->kind == V_LOC) {
        emit_copy(c, slot(c, h), e->local, off);
    } else if (e->kind == V_CONST) {
        op(c, IOP_const_, off);
        put_w(c, slot(c, h), 0);
        put_u(c, e->k);
    }
    e->kind = V_STK;
}

static void materialize_all(comp *c, uint32_t off) {
    for (uint32_t h = 0; h < c->height && !c->oom; h++) materialize(c, h, off);
}

/* The branch condition on top: read from its local when deferred, else its slot; every
 * entry below is materialised (a label may follow). */
static uint32_t cond_slot(comp *c, uint32_t off) {
    uint32_t h = c->height - 1;
    for (uint32_t i = 0; i < h && !c->oom; i++) materialize(c, i, off);
    if (c->vs[h].kind == V_LOC) return c->vs[h].local;
    materialize(c, h, off);
    return slot(c, h);
}

static bool all_stk_below(const comp *c, uint32_t h) {
    for (uint32_t i = 0; i < h; i++)
        if (c->vs[i].kind != V_STK) return false;
    return true;
}

/* Where the operand at height h can be read (materialising a constant). */
static uint32_t src_slot(comp *c, uint32_t h, uint32_t off) {
    ventry *e = &c->vs[h];
    if (e->kind == V_CONST) materialize(c, h, off);
    return e->kind == V_LOC ? e->local : slot(c, h);
}

/* Before local x is written: entries still reading x get their own copy. */
static void flush_local(comp *c, uint32_t x, uint32_t off) {
    for (uint32_t h = 0; h < c->height; h++)
        if (c->vs[h].kind == V_LOC && c->vs[h].local == x) materialize(c, h, off);
}

static bool names_local(const comp *c, uint32_t x, uint32_t below) {
    for (uint32_t h = 0; h < below; h++)
        if (c->vs[h].kind == V_LOC && c->vs[h].local == x) return true;
    return false;
}

/* A target cell for frame t (forward chain or loop start). */
static void put_target(comp *c, ctl *t) {
    if (!grow_u32(&c->relocs, &c->reloc_cap, c->reloc_n + 1)) {
        c->oom = true;
        return;
    }
    c->relocs[c->reloc_n++] = c->n;
    if (t->kind == CTL_LOOP) {
        put_u(c, t->start);
    } else {
        put_u(c, t->fixups);
        t->fixups = c->n; /* index + 1 of the cell just written */
    }
}

static uint32_t label_arity(const ctl *t) { return t->kind == CTL_LOOP ? t->nparams : t->nresults; }

static void patch_chain(comp *c, uint32_t chain, uint32_t target) {
    while (chain) {
        uint32_t cell = chain - 1;
        chain = (uint32_t)c->code[cell].u;
        c->code[cell].u = target;
    }
}

static int push_ctl(comp *c, ctl_kind kind, uint32_t np, uint32_t nr) {
    if (c->ctl_n == c->ctl_cap) {
        uint32_t nc = c->ctl_cap ? c->ctl_cap * 2 : 16;
        ctl *p = mem_realloc(MEM_WASM, c->ctls, (size_t)nc * sizeof(*p));
        if (!p) return -ENOMEM;
        c->ctls = p;
        c->ctl_cap = nc;
    }
    bool dead = c->ctl_n > 0 && c->ctls[c->ctl_n - 1].dead;
    ctl *t = &c->ctls[c->ctl_n++];
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->nparams = np;
    t->nresults = nr;
    t->dead = dead;
    t->dead_entry = dead;
    if (!dead) {
        SL_ASSERT(c->height >= np);
        t->height = c->height - np;
    }
    return 0;
}

static void block_arity(const wasm_module *m, int64_t bt, uint32_t *np, uint32_t *nr) {
    if (bt == -64) { /* 0x40: empty */
        *np = 0;
        *nr = 0;
    } else if (bt < 0) { /* a value type */
        *np = 0;
        *nr = 1;
    } else {
        *np = m->types[bt].param_count;
        *nr = m->types[bt].result_count;
    }
}

/* Marks the rest of the current frame dead. */
static void set_dead(comp *c) {
    c->ctls[c->ctl_n - 1].dead = true;
    label_here(c);
}

/* The compare that produced the top operand, if it can fuse with a branch now. */
static bool cmp_fusable(const comp *c) {
    return c->cmp_end == c->n && c->height > 0 && c->vs[c->height - 1].kind == V_STK &&
           all_stk_below(c, c->height - 1);
}

/* The f64 compare that produced the top operand, if it can fuse with a branch now. */
static bool fcmp_fusable(const comp *c) {
    return c->fcmp_end == c->n && c->height > 0 && c->vs[c->height - 1].kind == V_STK &&
           all_stk_below(c, c->height - 1);
}

/* The top operand is i32.eqz of an f64 compare, both just emitted: a branch on it is
 * the compare's branch with the sense flipped. */
static bool fcmp_eqz_fusable(const comp *c) {
    return cmp_fusable(c) && c->cmp_row < 0 && c->fcmp_end == c->cmp_pos &&
           c->cmp_a == c->code[c->fcmp_pos + 1].w.a;
}

/* Emits the fused f64 compare-and-branch, forward only (branch when the compare is
 * true, or when it is false if negate: not the inverse compare, since NaN makes both
 * false), in place of the compare; the caller adds the target cell. */
static void emit_fcmp_branch(comp *c, bool negate, uint32_t off) {
    static_assert(IOP_fbif_ne_ss - IOP_fbif_eq_ss == 4, "fbif, fbifn: _ss and _sc per compare");
    int iop = IOP_fbif_eq_ss + 4 * c->fcmp_row + (negate ? 2 : 0) + (c->fcmp_sc ? 1 : 0);
    uint32_t a = c->fcmp_a;
    uint64_t b = c->fcmp_b;
    unemit(c, c->fcmp_pos);
    op(c, iop, off);
    if (c->fcmp_sc) {
        put_w(c, a, 0);
        put_u(c, b);
    } else {
        put_w(c, a, (uint32_t)b);
    }
    label_here(c);
}

static int swapped_iop(int iop_ss);
static int cmp_row_of(int iop_ss);

/* The instruction just emitted, if it is an i32 add of a constant (i32_add_sc) with no
 * branch target after it: its cell index, else UINT32_MAX. */
static uint32_t last_addk(const comp *c) {
    if (c->offs_n == 0 || c->last_label == c->n) return UINT32_MAX;
    uint32_t p = c->offs[2 * (c->offs_n - 1)];
    if (p + 3 != c->n || c->code[p].op != c->labels[IOP_i32_add_sc]) return UINT32_MAX;
    return p;
}

/* A loop's back branch testing x right after `x = y + k` (a loop counter): emits the
 * fused add-and-branch iop in place of the add, w(x, y) w(k, b); the caller adds the
 * target cell. */
static void emit_addk_branch(comp *c, uint32_t add, int iop, uint32_t b, uint32_t off) {
    uint32_t x = c->code[add + 1].w.a;
    uint32_t y = c->code[add + 1].w.b;
    uint32_t k = (uint32_t)c->code[add + 2].u;
    unemit(c, add);
    op(c, iop, off);
    put_w(c, x, y);
    put_w(c, k, b);
    label_here(c);
}

/* Emits the fused compare-and-branch (branch when the compare is true, or false when
 * negate) in place of the compare; the caller adds the target cell. */
static void emit_cmp_branch(comp *c, bool negate, bool back, uint32_t off) {
    uint32_t a = c->cmp_a;
    uint64_t b = c->cmp_b;
    int iop;
    uint32_t add;
    SL_ASSERT(!(negate && back));
    unemit(c, c->cmp_pos);
    if (back && (add = last_addk(c)) != UINT32_MAX) {
        uint32_t x = c->code[add + 1].w.a;
        if (c->cmp_row < 0 && a == x) {
            emit_addk_branch(c, add, IOP_addk_bif_eqz_l, 0, off);
            return;
        }
        if (c->cmp_row >= 0 && a == x) {
            const cmpinfo *ci = &cmps[c->cmp_row];
            emit_addk_branch(c, add, c->cmp_sc ? ci->addk_sc : ci->addk_ss, (uint32_t)b, off);
            return;
        }
        if (c->cmp_row >= 0 && !c->cmp_sc && b == x) { /* b op x == x op' b */
            const cmpinfo *ci = &cmps[cmp_row_of(swapped_iop(cmps[c->cmp_row].op_ss))];
            emit_addk_branch(c, add, ci->addk_ss, a, off);
            return;
        }
    }
    if (c->cmp_row < 0) {
        iop = negate ? IOP_bif_nez : back ? IOP_bif_eqz_l : IOP_bif_eqz;
    } else {
        const cmpinfo *ci = &cmps[c->cmp_row];
        if (negate) iop = c->cmp_sc ? ci->neg_sc : ci->neg_ss;
        else if (back) iop = c->cmp_sc ? ci->bifl_sc : ci->bifl_ss;
        else iop = c->cmp_sc ? ci->bif_sc : ci->bif_ss;
    }
    op(c, iop, off);
    put_w(c, a, (uint32_t)b);
    label_here(c);
}

/* Returns n results from slots src.. (ret1 when there is exactly one). */
static void emit_ret(comp *c, uint32_t src, uint32_t n, uint32_t off) {
    op(c, n == 1 ? IOP_ret1 : IOP_ret, off);
    put_w(c, src, n);
}

/* br / br_if to depth l. For br_if the condition is still the top operand. */
static void emit_branch(comp *c, uint32_t l, bool cond, uint32_t off) {
    ctl *t = &c->ctls[c->ctl_n - 1 - l];
    uint32_t keep = label_arity(t);
    uint32_t h = c->height - (cond ? 1 : 0);
    bool moves = t->height + keep != h;
    if (cond) {
        if (!moves && t->kind != CTL_LOOP && fcmp_eqz_fusable(c)) {
            vpop(c, 1);
            emit_fcmp_branch(c, true, off); /* eqz(cmp) true: cmp false */
            put_target(c, t);
            return;
        }
        if (!moves && cmp_fusable(c)) {
            vpop(c, 1);
            emit_cmp_branch(c, false, t->kind == CTL_LOOP, off);
            put_target(c, t);
            return;
        }
        if (!moves && t->kind != CTL_LOOP && fcmp_fusable(c)) {
            vpop(c, 1);
            emit_fcmp_branch(c, false, off);
            put_target(c, t);
            return;
        }
        uint32_t cs = cond_slot(c, off);
        uint32_t add;
        vpop(c, 1);
        if (!moves && t->kind == CTL_LOOP && (add = last_addk(c)) != UINT32_MAX &&
            c->code[add + 1].w.a == cs) {
            emit_addk_branch(c, add, IOP_addk_bif_nez_l, 0, off);
            put_target(c, t);
            return;
        }
        if (!moves) {
            op(c, t->kind == CTL_LOOP ? IOP_bif_nez_l : IOP_bif_nez, off);
            put_w(c, cs, 0);
        } else {
            op(c, IOP_br_if_move, off);
            put_w(c, cs, keep);
            put_w(c, slot(c, h - keep), slot(c, t->height));
        }
        put_target(c, t);
        label_here(c);
        return;
    }
    materialize_all(c, off);
    if (t->kind == CTL_FUNC) { /* a branch to the function's label returns */
        emit_ret(c, slot(c, h - keep), keep, off);
        return;
    }
    if (!moves) {
        op(c, t->kind == CTL_LOOP ? IOP_br_loop : IOP_br, off);
    } else {
        op(c, IOP_br_move, off);
        put_w(c, keep, slot(c, h - keep));
        put_w(c, slot(c, t->height), 0);
    }
    put_target(c, t);
}

/* For `k op x` with a constant left operand: the op with operands swapped (x op' k), or
 * -1 when there is none. Commutative ops keep their name; compares mirror. */
static int swapped_iop(int iop_ss) {
    switch (iop_ss) {
#define SAME(n) \
    case IOP_##n##_ss: return IOP_##n##_ss;
#define MIRROR(a, b) \
    case IOP_##a##_ss: return IOP_##b##_ss;
        SAME(i32_add) SAME(i32_mul) SAME(i32_and) SAME(i32_or) SAME(i32_xor) SAME(i32_eq)
        SAME(i32_ne) SAME(i64_add) SAME(i64_mul) SAME(i64_and) SAME(i64_or) SAME(i64_xor)
        SAME(i64_eq) SAME(i64_ne)
        MIRROR(i32_lt_s, i32_gt_s) MIRROR(i32_gt_s, i32_lt_s) MIRROR(i32_lt_u, i32_gt_u)
        MIRROR(i32_gt_u, i32_lt_u) MIRROR(i32_le_s, i32_ge_s) MIRROR(i32_ge_s, i32_le_s)
        MIRROR(i32_le_u, i32_ge_u) MIRROR(i32_ge_u, i32_le_u)
#undef SAME
#undef MIRROR
    default:
        return -1;
    }
}

static int cmp_row_of(int iop_ss);

/* The load-fused form of binary op iop_ss when its right operand comes from load, or -1. */
static int ld_form(int iop_ss, int load) {
#define WASM__LD_CASE(name, ld_) \
    if (iop_ss == IOP_##name##_ss && load == IOP_##ld_) return IOP_##name##_ld;
    WASM__IOPS_LD(WASM__LD_CASE)
#undef WASM__LD_CASE
    return -1;
}
static_assert(IOP_i32_add_sc == IOP_i32_add_ss + 1, "an _sc form follows its _ss form");

/* The store of width iop that matches load (same type and width), or -1. */
static int store_of_load(int load) {
    switch (load) {
    case IOP_i32_load: return IOP_i32_store;
    case IOP_i64_load: return IOP_i64_store;
    case IOP_f32_load: return IOP_f32_store;
    case IOP_f64_load: return IOP_f64_store;
    default: return -1;
    }
}
static_assert(IOP_i64_xor_ldst - IOP_f64_add_ldst == IOP_i64_xor_ld - IOP_f64_add_ld,
              "_ldst forms parallel the _ld forms");

/* The f64_add_ldst just made at rmw_pos right after an f64_mul_ld that produced its
 * register operand (m[p2] += x * m[p1], an axpy step): the two become one f64_axpy.
 * Its cells are the f64_mul_ld's, then the f64_add_ldst's address and offset; the
 * f64_add_ldst's (cell, code offset) pair stays where its address now is, so a trap of
 * the second access reports its own load's offset (exec moves pc there first). */
static void axpy_fuse(comp *c) {
    uint32_t q = c->rmw_pos - 4;
    if (c->rmw_pos < 4 || c->code[c->rmw_pos].op != c->labels[IOP_f64_add_ldst]) return;
    if (c->last_label == c->rmw_pos || c->code[q].op != c->labels[IOP_f64_mul_ld]) return;
    if (c->offs_n < 2 || c->offs[2 * (c->offs_n - 2)] != q) return;
    if (c->code[q + 1].w.a != c->code[c->rmw_pos + 1].w.b) return;
    static_assert(sizeof(wcell) == 8, "cells move as a whole");
    c->code[q].op = c->labels[IOP_f64_axpy];
    c->code[q + 4] = c->code[q + 6]; /* w(addr2, k2) */
    c->code[q + 5] = c->code[q + 7]; /* offset2 */
    c->n = q + 6;
    SL_ASSERT(c->offs[2 * (c->offs_n - 1)] == q + 4);
}

/* Store iop (offset moff) of the top two entries, right after a load-fused op that
 * produced the value from the same address, offset and width: turns that op into its
 * read-modify-write form and emits nothing. The load part still traps first, at the
 * load's code offset, and a load that passed its bounds check makes the store's pass. */
static bool rmw_fuse(comp *c, int iop, uint32_t moff) {
    uint32_t h = c->height - 2;
    const ventry *a = &c->vs[h];
    if (c->rmw_end != c->n || c->res_end != c->n || c->res_cell != c->rmw_pos + 1) return false;
    if (store_of_load(c->rmw_load) != iop || a->kind == V_CONST || c->vs[h + 1].kind != V_STK)
        return false;
    uint32_t sa = a->kind == V_LOC ? a->local : slot(c, h);
    const wcell *k = &c->code[c->rmw_pos];
    if (k[1].w.a != slot(c, h + 1) || k[2].w.a != sa || k[2].w.b != 0 || k[3].u != moff)
        return false;
    c->code[c->rmw_pos].op = c->labels[IOP_f64_add_ldst + (c->rmw_ld - IOP_f64_add_ld)];
    axpy_fuse(c);
    vpop(c, 2);
    label_here(c);
    return true;
}

/* The address operand at height h was computed by the instruction just emitted, an
 * i32 add (or sub) of a constant into its slot: removes that instruction and returns
 * its left operand's slot and the constant, which the _k form of the access adds with
 * the same 32-bit wrap-around (exec.c, EA_K). Otherwise emits nothing, *k = 0. */
static uint32_t addr_operand(comp *c, uint32_t h, uint32_t *k, bool *folded, uint32_t off) {
    *folded = false;
    if (c->res_end == c->n && c->res_cell >= 2 && c->res_cell + 2 == c->n &&
        c->offs_n > 0 && c->offs[2 * (c->offs_n - 1)] == c->res_cell - 2 &&
        c->code[c->res_cell - 2].op == c->labels[IOP_add2k] && c->vs[h].kind == V_STK &&
        c->code[c->res_cell].w.a == slot(c, h)) {
        /* The second add of an add2k computed the address: split it off and fold it. */
        uint32_t p = c->res_cell - 2;
        uint32_t src = c->code[p + 2].w.b;
        *k = c->code[p + 3].w.b;
        *folded = true;
        c->code[p].op = c->labels[IOP_i32_add_sc];
        c->code[p + 2].u = c->code[p + 3].w.a;
        c->n = p + 3;
        label_here(c);
        return src;
    }
    if (c->add_end == c->n && c->res_end == c->n && c->res_cell == c->add_pos + 1 &&
        c->vs[h].kind == V_STK && c->code[c->res_cell].w.a == slot(c, h)) {
        SL_ASSERT(c->offs[2 * (c->offs_n - 1)] == c->add_pos);
        *k = c->add_k;
        *folded = true;
        unemit(c, c->add_pos);
        label_here(c);
        return c->add_src;
    }
    *k = 0;
    return src_slot(c, h, off);
}

/* The instruction just emitted, if it wrote the top operand's slot (not rewritten to a
 * local) and is iop: its first immediate cell, else UINT32_MAX. */
static uint32_t last_producer(const comp *c, int iop) {
    uint32_t h = c->height - 1;
    if (c->res_end != c->n || c->vs[h].kind != V_STK) return UINT32_MAX;
    if (c->code[c->res_cell].w.a != slot(c, h)) return UINT32_MAX;
    if (c->offs_n == 0 || c->offs[2 * (c->offs_n - 1)] != c->res_cell - 1) return UINT32_MAX;
    if (c->code[c->res_cell - 1].op != c->labels[iop]) return UINT32_MAX;
    return c->res_cell;
}

/* select whose condition the instruction just before computed as x & k into a
 * temporary: rewrites that instruction into select_andk w(dst, a) w(b, x) k (the
 * temporary is dead after the select). Only when a and b need no code. */
static bool select_andk(comp *c, uint32_t off) {
    uint32_t h = c->height - 3;
    uint32_t cell = last_producer(c, IOP_i32_and_sc);
    if (cell == UINT32_MAX || c->vs[h].kind == V_CONST || c->vs[h + 1].kind == V_CONST)
        return false;
    uint32_t x = c->code[cell].w.b;
    uint64_t k = c->code[cell + 1].u;
    uint32_t sa = src_slot(c, h, off);
    uint32_t sb = src_slot(c, h + 1, off);
    c->code[cell - 1].op = c->labels[IOP_select_andk];
    c->code[cell].w.a = slot(c, h);
    c->code[cell].w.b = sa;
    c->code[cell + 1].w.a = sb;
    c->code[cell + 1].w.b = x;
    put_u(c, k);
    vpop(c, 3);
    vpush(c, V_STK, 0, 0);
    label_here(c);
    produced(c, cell);
    return true;
}

/* The i32 op iop_sc with constant k on the top operand, which the instruction just
 * before computed into a temporary as x op1 k1 (a pair in WASM__IOPS_II): rewrites that
 * instruction into the pair, w(dst, x) w(k1, k), dropping the dead temporary. */
static bool ii_fuse(comp *c, int iop_sc, uint64_t k) {
    static const int pairs[][3] = {
#define WASM__II_ROW(o1, o2) {IOP_i32_##o1##_sc, IOP_i32_##o2##_sc, IOP_ii_##o1##_##o2},
        WASM__IOPS_II(WASM__II_ROW)
#undef WASM__II_ROW
    };
    if (c->height < 2 || c->vs[c->height - 2].kind != V_STK) return false;
    for (size_t i = 0; i < SL_ARRAY_LEN(pairs); i++) {
        if (pairs[i][1] != iop_sc) continue;
        /* the left operand (height - 2) is the previous result: check it as the top */
        c->height--;
        uint32_t cell = last_producer(c, pairs[i][0]);
        c->height++;
        if (cell == UINT32_MAX) continue;
        uint32_t k1 = (uint32_t)c->code[cell + 1].u;
        if (pairs[i][0] == IOP_i32_shl_sc || pairs[i][0] == IOP_i32_shr_u_sc) k1 &= 31;
        c->code[cell - 1].op = c->labels[pairs[i][2]];
        c->code[cell + 1].w.a = k1;
        c->code[cell + 1].w.b = (uint32_t)k;
        label_here(c);
        produced(c, cell);
        return true;
    }
    return false;
}

/* An i32 add of constant k to a_slot, into the top slot, right after an i32_add_sc
 * that wrote a local (so nothing folds it into an address or a branch any more), with
 * no branch target between: the two become add2k w(d1, s1) w(d2, s2) w(k1, k2), done in
 * order. */
static bool add2k_fuse(comp *c, uint32_t a_slot, uint32_t k) {
    if (c->offs_n == 0 || c->last_label == c->n) return false;
    uint32_t p = c->offs[2 * (c->offs_n - 1)];
    if (p + 3 != c->n || c->code[p].op != c->labels[IOP_i32_add_sc]) return false;
    if (c->code[p + 1].w.a >= c->nlocals) return false;
    uint32_t k1 = (uint32_t)c->code[p + 2].u;
    c->code[p].op = c->labels[IOP_add2k];
    c->code[p + 2].w.a = slot(c, c->height - 2);
    c->code[p + 2].w.b = a_slot;
    put_w(c, k1, k);
    label_here(c);
    produced(c, p + 2); /* a local.set next may rewrite d2 */
    return true;
}

/* Which of f64 add, sub, mul iop_ss is (0, 1, 2), or -1. */
static int ff_row(int iop_ss) {
    if (iop_ss == IOP_f64_add_ss) return 0;
    if (iop_ss == IOP_f64_sub_ss) return 1;
    return iop_ss == IOP_f64_mul_ss ? 2 : -1;
}

/* f64 add/sub/mul iop_ss (a_slot op b_slot -> dst) right after another one, with no
 * branch target between, that wrote one of its operands: rewrites that instruction into
 * the chained pair (ff_*), which still writes the first result. */
static bool ff_fuse(comp *c, int iop_ss, uint32_t a_slot, uint32_t b_slot, uint32_t dst) {
    int second = ff_row(iop_ss);
    if (second < 0 || c->offs_n == 0 || c->last_label == c->n) return false;
    uint32_t p = c->offs[2 * (c->offs_n - 1)];
    if (p + 3 != c->n) return false;
    static const int firsts[3] = {IOP_f64_add_ss, IOP_f64_sub_ss, IOP_f64_mul_ss};
    int first = -1;
    for (int i = 0; i < 3 && first < 0; i++)
        if (c->code[p].op == c->labels[firsts[i]]) first = i;
    if (first < 0) return false;
    uint32_t t = c->code[p + 1].w.a;
    bool left = a_slot == t;
    if (!left && b_slot != t) return false;
    static_assert(IOP_ff_mul_mul_r - IOP_ff_add_add_l == 17, "ff: 3 x 3 pairs, _l and _r");
    c->code[p].op = c->labels[IOP_ff_add_add_l + 2 * (3 * first + second) + (left ? 0 : 1)];
    c->code[p + 2].w.b = c->code[p + 2].w.a; /* w(b1, -) becomes w(d, b1) */
    c->code[p + 2].w.a = dst;
    put_w(c, left ? b_slot : a_slot, 0);
    label_here(c);
    produced(c, p + 2); /* a local.set next may rewrite d */
    return true;
}

/* Emits a binary op whose operands are the top two entries; result replaces them. */
static void emit_binary(comp *c, int iop_ss, int iop_sc, int cmp_row, uint32_t off) {
    uint32_t h = c->height - 2;
    ventry *b = &c->vs[h + 1];
    ventry *a0 = &c->vs[h];
    int sw;
    int ld;
    if (iop_sc >= 0 && a0->kind == V_CONST && b->kind != V_CONST &&
        (sw = swapped_iop(iop_ss)) >= 0) {
        /* k op x == x op' k: the constant form with the operands swapped. */
        uint64_t k = a0->k;
        uint32_t x_slot = src_slot(c, h + 1, off);
        uint32_t at = c->n;
        op(c, sw + 1, off); /* _sc follows _ss in the enum */
        put_w(c, slot(c, h), x_slot);
        put_u(c, k);
        vpop(c, 2);
        vpush(c, V_STK, 0, 0);
        produced(c, at + 1);
        if (sw == IOP_i32_add_ss) {
            c->add_pos = at;
            c->add_end = c->n;
            c->add_src = x_slot;
            c->add_k = (uint32_t)k;
        }
        cmp_row = cmp_row_of(sw);
        if (cmp_row >= 0 && k <= UINT32_MAX) {
            c->cmp_pos = at;
            c->cmp_end = c->n;
            c->cmp_row = cmp_row;
            c->cmp_a = x_slot;
            c->cmp_b = k;
            c->cmp_sc = true;
        }
        return;
    }
    uint32_t a_slot;
    uint32_t pos;
    if (iop_sc >= 0 && b->kind == V_CONST && ii_fuse(c, iop_sc, b->k)) {
        vpop(c, 2);
        vpush(c, V_STK, 0, 0);
        return;
    }
    if (iop_sc >= 0 && b->kind == V_CONST) {
        uint64_t k = b->k;
        a_slot = src_slot(c, h, off);
        if ((iop_sc == IOP_i32_add_sc || iop_sc == IOP_i32_sub_sc) &&
            add2k_fuse(c, a_slot, iop_sc == IOP_i32_add_sc ? (uint32_t)k : 0u - (uint32_t)k)) {
            vpop(c, 2);
            vpush(c, V_STK, 0, 0);
            return;
        }
        pos = c->n;
        op(c, iop_sc, off);
        put_w(c, slot(c, h), a_slot);
        put_u(c, k);
        c->cmp_sc = true;
        c->cmp_b = k;
        if (iop_sc == IOP_i32_add_sc || iop_sc == IOP_i32_sub_sc) {
            c->add_pos = pos;
            c->add_end = c->n;
            c->add_src = a_slot;
            c->add_k = iop_sc == IOP_i32_add_sc ? (uint32_t)k : (uint32_t)(0u - (uint32_t)k);
        }
    } else if ((ld = ld_form(iop_ss, c->ld_iop)) >= 0 && c->ld_end == c->n &&
               b->kind == V_STK && c->vs[h].kind != V_CONST &&
               c->code[c->ld_pos + 1].w.a == slot(c, h + 1)) {
        /* The right operand was loaded by the instruction just emitted: fuse them. The
         * fused instruction keeps the load's code offset, since only the load traps. */
        uint32_t addr = c->code[c->ld_pos + 1].w.b;
        uint32_t k = c->ld_k;
        uint64_t moff = c->code[c->ld_pos + 2].u;
        uint32_t ld_off = c->offs[2 * (c->offs_n - 1) + 1];
        SL_ASSERT(c->offs[2 * (c->offs_n - 1)] == c->ld_pos);
        unemit(c, c->ld_pos);
        a_slot = src_slot(c, h, off); /* LOC or STK: emits nothing */
        pos = c->n;
        op(c, ld, ld_off);
        put_w(c, slot(c, h), a_slot);
        put_w(c, addr, k);
        put_u(c, moff);
        c->rmw_pos = pos;
        c->rmw_end = c->n;
        c->rmw_ld = ld;
        c->rmw_load = c->ld_iop;
        c->cmp_sc = false;
        c->cmp_b = 0;
        cmp_row = -1;
    } else {
        a_slot = src_slot(c, h, off);
        uint32_t b_slot = src_slot(c, h + 1, off);
        if (ff_fuse(c, iop_ss, a_slot, b_slot, slot(c, h))) {
            vpop(c, 2);
            vpush(c, V_STK, 0, 0);
            return;
        }
        pos = c->n;
        op(c, iop_ss, off);
        put_w(c, slot(c, h), a_slot);
        put_w(c, b_slot, 0);
        c->cmp_sc = false;
        c->cmp_b = b_slot;
    }
    vpop(c, 2);
    vpush(c, V_STK, 0, 0);
    produced(c, pos + 1);
    if (cmp_row >= 0 && (!c->cmp_sc || c->cmp_b <= UINT32_MAX)) {
        c->cmp_pos = pos;
        c->cmp_end = c->n;
        c->cmp_row = cmp_row;
        c->cmp_a = a_slot;
    }
    static_assert(IOP_f64_ge_ss - IOP_f64_eq_ss == 10, "f64 eq ne lt gt le ge, _ss and _sc");
    if (iop_ss >= IOP_f64_eq_ss && iop_ss <= IOP_f64_ge_ss) {
        c->fcmp_pos = pos;
        c->fcmp_end = c->n;
        c->fcmp_row = (iop_ss - IOP_f64_eq_ss) / 2;
        c->fcmp_sc = c->cmp_sc;
        c->fcmp_a = a_slot;
        c->fcmp_b = c->cmp_b;
    }
}

static void emit_unary(comp *c, int iop, bool is_eqz32, uint32_t off) {
    uint32_t h = c->height - 1;
    uint32_t a_slot = src_slot(c, h, off);
    uint32_t pos = c->n;
    op(c, iop, off);
    put_w(c, slot(c, h), a_slot);
    vpop(c, 1);
    vpush(c, V_STK, 0, 0);
    produced(c, pos + 1);
    if (is_eqz32) {
        c->cmp_pos = pos;
        c->cmp_end = c->n;
        c->cmp_row = -1;
        c->cmp_a = a_slot;
        c->cmp_b = 0;
        c->cmp_sc = false;
    }
}

/* local.set / local.tee x. */
static void emit_local_set(comp *c, uint32_t x, bool tee, uint32_t off) {
    uint32_t h = c->height - 1;
    ventry *top = &c->vs[h];
    if (top->kind == V_STK && c->res_end == c->n && c->code[c->res_cell].w.a == slot(c, h) &&
        !names_local(c, x, h)) {
        c->code[c->res_cell].w.a = x; /* the producer writes the local directly */
    } else {
        flush_local(c, x, off);
        top = &c->vs[h];
        if (top->kind == V_LOC) {
            if (top->local != x) emit_copy(c, x, top->local, off);
        } else if (top->kind == V_CONST) {
            op(c, IOP_const_, off);
            put_w(c, x, 0);
            put_u(c, top->k);
        } else {
            emit_copy(c, x, slot(c, h), off);
        }
    }
    label_here(c);
    vpop(c, 1);
    if (tee) vpush(c, V_LOC, x, 0);
}

/* Stack-form instruction: operands in their slots, t = slots in use. */
static void emit_stackform(comp *c, int iop, uint32_t pops, uint32_t pushes, uint32_t off) {
    materialize_all(c, off);
    op(c, iop, off);
    put_w(c, slot(c, c->height), 0);
    vpop(c, pops);
    for (uint32_t i = 0; i < pushes; i++) vpush(c, V_STK, 0, 0);
    label_here(c);
}

static int numeric_iop(uint16_t code, int *ss, int *sc, int *kind) {
    switch (code) {
#define WASM__BI_CASE(name, code_) \
    case code_:                    \
        *ss = IOP_##name##_ss;     \
        *sc = IOP_##name##_sc;     \
        *kind = 2;                 \
        return 0;
#define WASM__BF_CASE(name, code_) \
    case code_:                    \
        *ss = IOP_##name##_ss;     \
        *sc = IOP_##name##_sc;     \
        *kind = 2;                 \
        return 0;
#define WASM__U_CASE(name, code_) \
    case code_:                   \
        *ss = IOP_##name;         \
        *sc = -1;                 \
        *kind = 1;                \
        return 0;
        WASM__IOPS_BIN_INT(WASM__BI_CASE)
        WASM__IOPS_BIN_FLT(WASM__BF_CASE)
        WASM__IOPS_UNARY(WASM__U_CASE)
#undef WASM__BI_CASE
#undef WASM__BF_CASE
#undef WASM__U_CASE
    default:
        return -1;
    }
}

static int cmp_row_of(int iop_ss) {
    for (size_t i = 0; i < SL_ARRAY_LEN(cmps); i++)
        if (cmps[i].op_ss == iop_ss) return (int)i;
    return -1;
}

static int compile_body(comp *c, wasm_func *f, const wasm_funcdef *fd, wasm_diag *d) {
    const wasm_module *m = c->m;
    wasm_instance *inst = c->inst;
    const char *why = NULL;
    rd r;
    rd_init(&r, m->bytes, m->size);
    r.p = m->bytes + fd->code_start;
    r.end = m->bytes + fd->code_end;
    if (push_ctl(c, CTL_FUNC, 0, f->result_count) < 0) return -ENOMEM;

    while (c->ctl_n > 0) {
        uint32_t off = (uint32_t)(r.p - m->bytes);
        uint8_t b;
        uint16_t code;
        ctl *top = &c->ctls[c->ctl_n - 1];
        if (c->oom) return -ENOMEM;
        if (wasm__u8(&r, &b, &why) < 0) goto malformed;
        code = b;
        if (b == 0xFC) {
            uint32_t sub;
            if (wasm__u32(&r, &sub, &why) < 0) goto malformed;
            if (sub > 0xff) goto malformed;
            code = (uint16_t)(0xFC00 | sub);
        }
        bool dead = top->dead;

        switch (code) {
        case WASM_OP_block:
        case WASM_OP_loop:
        case WASM_OP_if_: {
            int64_t bt;
            uint32_t np;
            uint32_t nr;
            if (wasm__s33(&r, &bt, &why) < 0) goto malformed;
            block_arity(m, bt, &np, &nr);
            if (dead) {
                if (push_ctl(c, CTL_BLOCK, np, nr) < 0) return -ENOMEM;
                break;
            }
            if (code == WASM_OP_if_) {
                bool fused = cmp_fusable(c);
                uint32_t cs = 0;
                if (fcmp_eqz_fusable(c)) { /* to else when eqz(cmp) is false: cmp true */
                    vpop(c, 1);
                    emit_fcmp_branch(c, false, off);
                } else if (fused) {
                    vpop(c, 1);
                    emit_cmp_branch(c, true, false, off);
                } else if (fcmp_fusable(c)) {
                    vpop(c, 1);
                    emit_fcmp_branch(c, true, off);
                } else {
                    cs = cond_slot(c, off);
                    vpop(c, 1);
                    op(c, IOP_bif_eqz, off);
                    put_w(c, cs, 0);
                }
                if (push_ctl(c, CTL_IF, np, nr) < 0) return -ENOMEM;
                top = &c->ctls[c->ctl_n - 1];
                top->else_fix = c->n + 1;
                put_u(c, 0);
                if (!grow_u32(&c->relocs, &c->reloc_cap, c->reloc_n + 1)) return -ENOMEM;
                c->relocs[c->reloc_n++] = c->n - 1;
                label_here(c);
                break;
            }
            materialize_all(c, off);
            if (push_ctl(c, code == WASM_OP_block ? CTL_BLOCK : CTL_LOOP, np, nr) < 0)
                return -ENOMEM;
            top = &c->ctls[c->ctl_n - 1];
            top->start = c->n;
            target_here(c);
            label_here(c);
            break;
        }
        case WASM_OP_else_:
            if (top->dead_entry) break;
            if (!top->dead) { /* then-branch falls through to the end */
                materialize_all(c, off);
                op(c, IOP_br, off);
                put_target(c, top);
            }
            if (top->else_fix) {
                c->code[top->else_fix - 1].u = c->n;
                top->else_fix = 0;
            }
            target_here(c);
            top->dead = false;
            c->height = top->height;
            for (uint32_t i = 0; i < top->nparams; i++) vpush(c, V_STK, 0, 0);
            label_here(c);
            break;
        case WASM_OP_end: {
            if (!top->dead_entry && !top->dead) materialize_all(c, off);
            ctl t = *top;
            c->ctl_n--;
            if (t.dead_entry) break;
            label_here(c);
            if (t.else_fix) c->code[t.else_fix - 1].u = c->n;
            patch_chain(c, t.fixups, c->n);
            target_here(c);
            c->height = t.height;
            for (uint32_t i = 0; i < t.nresults; i++) vpush(c, V_STK, 0, 0);
            if (t.kind == CTL_FUNC) {
                emit_ret(c, slot(c, 0), t.nresults, off);
            }
            break;
        }
        case WASM_OP_unreachable:
            if (dead) break;
            op(c, IOP_unreachable, off);
            set_dead(c);
            break;
        case WASM_OP_nop:
            break;
        case WASM_OP_br: {
            uint32_t l;
            if (wasm__u32(&r, &l, &why) < 0) goto malformed;
            if (dead) break;
            emit_branch(c, l, false, off);
            set_dead(c);
            break;
        }
        case WASM_OP_br_if: {
            uint32_t l;
            if (wasm__u32(&r, &l, &why) < 0) goto malformed;
            if (dead) break;
            emit_branch(c, l, true, off);
            break;
        }
        case WASM_OP_br_table: {
            uint32_t n;
            uint32_t keep = 0;
            if (wasm__u32(&r, &n, &why) < 0) goto malformed;
            if (!dead) {
                materialize_all(c, off);
                uint32_t idx = slot(c, c->height - 1);
                vpop(c, 1);
                op(c, IOP_br_table, off);
                put_w(c, idx, n);
                put_w(c, 0, 0); /* w(src, keep), filled from the first label */
            }
            uint32_t hdr = c->n - 1;
            for (uint32_t i = 0; i <= n; i++) {
                uint32_t l;
                if (wasm__u32(&r, &l, &why) < 0) goto malformed;
                if (dead) continue;
                ctl *t = &c->ctls[c->ctl_n - 1 - l];
                keep = label_arity(t);
                put_w(c, slot(c, t->height), 0);
                put_target(c, t);
                if (c->oom) return -ENOMEM;
            }
            if (!dead) {
                c->code[hdr].w.a = slot(c, c->height - keep);
                c->code[hdr].w.b = keep;
                set_dead(c);
            }
            break;
        }
        case WASM_OP_return_:
            if (dead) break;
            if (f->result_count == 1 && c->vs[c->height - 1].kind == V_LOC) {
                /* One result still in a local: return it from there (fp[0] <- fp[x]). */
                emit_ret(c, c->vs[c->height - 1].local, 1, off);
            } else {
                materialize_all(c, off);
                emit_ret(c, slot(c, c->height - f->result_count), f->result_count, off);
            }
            set_dead(c);
            break;
        case WASM_OP_call: {
            uint32_t fi;
            if (wasm__u32(&r, &fi, &why) < 0) goto malformed;
            if (dead) break;
            wasm_func *callee = inst->funcs[fi];
            materialize_all(c, off);
            op(c, !callee->is_host && callee->inst == inst ? IOP_call_local : IOP_call, off);
            put_p(c, callee);
            put_w(c, slot(c, c->height - callee->param_count), 0);
            vpop(c, callee->param_count);
            for (uint32_t i = 0; i < callee->result_count; i++) vpush(c, V_STK, 0, 0);
            label_here(c);
            break;
        }
        case WASM_OP_call_indirect: {
            uint32_t ti;
            uint32_t tab;
            if (wasm__u32(&r, &ti, &why) < 0 || wasm__u32(&r, &tab, &why) < 0) goto malformed;
            if (dead) break;
            uint32_t np = m->types[ti].param_count;
            materialize_all(c, off);
            op(c, IOP_call_indirect, off);
            put_p(c, inst->tables[tab]);
            put_w(c, inst->type_ids[ti], slot(c, c->height - 1 - np));
            put_w(c, slot(c, c->height - 1), 0);
            vpop(c, 1 + np);
            for (uint32_t i = 0; i < m->types[ti].result_count; i++) vpush(c, V_STK, 0, 0);
            label_here(c);
            break;
        }
        case WASM_OP_drop:
            if (dead) break;
            vpop(c, 1);
            label_here(c);
            break;
        case WASM_OP_select_t: {
            uint32_t k;
            if (wasm__u32(&r, &k, &why) < 0) goto malformed;
            for (uint32_t i = 0; i < k; i++) {
                uint8_t t;
                if (wasm__u8(&r, &t, &why) < 0) goto malformed;
            }
        }
            /* fall through */
        case WASM_OP_select: {
            if (dead) break;
            uint32_t h = c->height - 3;
            if (select_andk(c, off)) break;
            if (c->vs[h].kind == V_CONST && c->vs[h + 1].kind == V_CONST) {
                /* Both values constant: select_kk w(dst, cond) k1 k2. */
                uint64_t k1 = c->vs[h].k;
                uint64_t k2 = c->vs[h + 1].k;
                uint32_t sc = src_slot(c, h + 2, off);
                uint32_t pos = c->n;
                op(c, IOP_select_kk, off);
                put_w(c, slot(c, h), sc);
                put_u(c, k1);
                put_u(c, k2);
                vpop(c, 3);
                vpush(c, V_STK, 0, 0);
                produced(c, pos + 1);
                break;
            }
            uint32_t sa = src_slot(c, h, off);
            uint32_t sb = src_slot(c, h + 1, off);
            uint32_t sc = src_slot(c, h + 2, off);
            uint32_t pos = c->n;
            op(c, IOP_select, off);
            put_w(c, slot(c, h), sa);
            put_w(c, sb, sc);
            vpop(c, 3);
            vpush(c, V_STK, 0, 0);
            produced(c, pos + 1);
            break;
        }
        case WASM_OP_local_get: {
            uint32_t i;
            if (wasm__u32(&r, &i, &why) < 0) goto malformed;
            if (dead) break;
            vpush(c, V_LOC, i, 0);
            break;
        }
        case WASM_OP_local_set:
        case WASM_OP_local_tee: {
            uint32_t i;
            if (wasm__u32(&r, &i, &why) < 0) goto malformed;
            if (dead) break;
            emit_local_set(c, i, code == WASM_OP_local_tee, off);
            break;
        }
        case WASM_OP_global_get: {
            uint32_t i;
            if (wasm__u32(&r, &i, &why) < 0) goto malformed;
            if (dead) break;
            uint32_t pos = c->n;
            op(c, IOP_global_get, off);
            put_w(c, slot(c, c->height), 0);
            put_p(c, &inst->globals[i]->value);
            vpush(c, V_STK, 0, 0);
            produced(c, pos + 1);
            break;
        }
        case WASM_OP_global_set: {
            uint32_t i;
            if (wasm__u32(&r, &i, &why) < 0) goto malformed;
            if (dead) break;
            uint32_t s = src_slot(c, c->height - 1, off);
            op(c, IOP_global_set, off);
            put_w(c, s, 0);
            put_p(c, &inst->globals[i]->value);
            vpop(c, 1);
            label_here(c);
            break;
        }
        case WASM_OP_table_get:
        case WASM_OP_table_set: {
            uint32_t i;
            if (wasm__u32(&r, &i, &why) < 0) goto malformed;
            if (dead) break;
            if (code == WASM_OP_table_get) emit_stackform(c, IOP_table_get, 1, 1, off);
            else emit_stackform(c, IOP_table_set, 2, 0, off);
            put_p(c, inst->tables[i]);
            break;
        }
        case WASM_OP_memory_size:
        case WASM_OP_memory_grow: {
            uint8_t z;
            if (wasm__u8(&r, &z, &why) < 0) goto malformed;
            if (dead) break;
            if (code == WASM_OP_memory_grow) {
                emit_stackform(c, IOP_memory_grow, 1, 1, off);
            } else {
                uint32_t pos = c->n;
                op(c, IOP_memory_size, off);
                put_w(c, slot(c, c->height), 0);
                vpush(c, V_STK, 0, 0);
                produced(c, pos + 1);
            }
            break;
        }
        case WASM_OP_i32_const: {
            int32_t v;
            if (wasm__s32(&r, &v, &why) < 0) goto malformed;
            if (dead) break;
            vpush(c, V_CONST, 0, (uint32_t)v);
            break;
        }
        case WASM_OP_i64_const: {
            int64_t v;
            if (wasm__s64(&r, &v, &why) < 0) goto malformed;
            if (dead) break;
            vpush(c, V_CONST, 0, (uint64_t)v);
            break;
        }
        case WASM_OP_f32_const: {
            uint32_t v;
            if (wasm__f32(&r, &v, &why) < 0) goto malformed;
            if (dead) break;
            vpush(c, V_CONST, 0, v);
            break;
        }
        case WASM_OP_f64_const: {
            uint64_t v;
            if (wasm__f64(&r, &v, &why) < 0) goto malformed;
            if (dead) break;
            vpush(c, V_CONST, 0, v);
            break;
        }
        case WASM_OP_ref_null: {
            uint8_t t;
            if (wasm__u8(&r, &t, &why) < 0) goto malformed;
            if (dead) break;
            vpush(c, V_CONST, 0, 0);
            break;
        }
        case WASM_OP_ref_is_null:
            if (dead) break;
            emit_stackform(c, IOP_ref_is_null, 1, 1, off);
            break;
        case WASM_OP_ref_func: {
            uint32_t fi;
            if (wasm__u32(&r, &fi, &why) < 0) goto malformed;
            if (dead) break;
            vpush(c, V_CONST, 0, (uint64_t)(uintptr_t)inst->funcs[fi]);
            break;
        }
        case WASM_OP_memory_init: {
            uint32_t di;
            uint8_t z;
            if (wasm__u32(&r, &di, &why) < 0 || wasm__u8(&r, &z, &why) < 0) goto malformed;
            if (dead) break;
            emit_stackform(c, IOP_memory_init, 3, 0, off);
            put_p(c, &inst->datas[di]);
            break;
        }
        case WASM_OP_data_drop: {
            uint32_t di;
            if (wasm__u32(&r, &di, &why) < 0) goto malformed;
            if (dead) break;
            op(c, IOP_data_drop, off);
            put_p(c, &inst->datas[di]);
            break;
        }
        case WASM_OP_memory_copy:
        case WASM_OP_memory_fill: {
            uint8_t z;
            if (wasm__u8(&r, &z, &why) < 0) goto malformed;
            if (code == WASM_OP_memory_copy && wasm__u8(&r, &z, &why) < 0) goto malformed;
            if (dead) break;
            emit_stackform(c, code == WASM_OP_memory_copy ? IOP_memory_copy : IOP_memory_fill, 3,
                           0, off);
            break;
        }
        case WASM_OP_table_init: {
            uint32_t ei;
            uint32_t ti;
            if (wasm__u32(&r, &ei, &why) < 0 || wasm__u32(&r, &ti, &why) < 0) goto malformed;
            if (dead) break;
            emit_stackform(c, IOP_table_init, 3, 0, off);
            put_p(c, inst->tables[ti]);
            put_p(c, &inst->elems[ei]);
            break;
        }
        case WASM_OP_elem_drop: {
            uint32_t ei;
            if (wasm__u32(&r, &ei, &why) < 0) goto malformed;
            if (dead) break;
            op(c, IOP_elem_drop, off);
            put_p(c, &inst->elems[ei]);
            break;
        }
        case WASM_OP_table_copy: {
            uint32_t dt;
            uint32_t st;
            if (wasm__u32(&r, &dt, &why) < 0 || wasm__u32(&r, &st, &why) < 0) goto malformed;
            if (dead) break;
            emit_stackform(c, IOP_table_copy, 3, 0, off);
            put_p(c, inst->tables[dt]);
            put_p(c, inst->tables[st]);
            break;
        }
        case WASM_OP_table_grow:
        case WASM_OP_table_size:
        case WASM_OP_table_fill: {
            uint32_t ti;
            if (wasm__u32(&r, &ti, &why) < 0) goto malformed;
            if (dead) break;
            if (code == WASM_OP_table_grow) {
                emit_stackform(c, IOP_table_grow, 2, 1, off);
            } else if (code == WASM_OP_table_fill) {
                emit_stackform(c, IOP_table_fill, 3, 0, off);
            } else {
                uint32_t pos = c->n;
                op(c, IOP_table_size, off);
                put_w(c, slot(c, c->height), 0);
                vpush(c, V_STK, 0, 0);
                produced(c, pos + 1);
            }
            put_p(c, inst->tables[ti]);
            break;
        }
        default: {
            int ss;
            int sc;
            int kind;
            if (code >= WASM_OP_i32_load && code <= WASM_OP_i64_store32) {
                uint32_t align;
                uint32_t moff;
                if (wasm__u32(&r, &align, &why) < 0 || wasm__u32(&r, &moff, &why) < 0)
                    goto malformed;
                if (dead) break;
                static const uint16_t mem_iop[] = {
                    IOP_i32_load,    IOP_i64_load,     IOP_f32_load,     IOP_f64_load,
                    IOP_i32_load8_s, IOP_i32_load8_u,  IOP_i32_load16_s, IOP_i32_load16_u,
                    IOP_i64_load8_s, IOP_i64_load8_u,  IOP_i64_load16_s, IOP_i64_load16_u,
                    IOP_i64_load32_s, IOP_i64_load32_u, IOP_i32_store,   IOP_i64_store,
                    IOP_f32_store,   IOP_f64_store,    IOP_i32_store8,   IOP_i32_store16,
                    IOP_i64_store8,  IOP_i64_store16,  IOP_i64_store32};
                static_assert(SL_ARRAY_LEN(mem_iop) == WASM_OP_i64_store32 - WASM_OP_i32_load + 1,
                              "one iop per memory opcode");
                int iop = mem_iop[code - WASM_OP_i32_load];
                static_assert(IOP_i64_store32_k - IOP_i32_load_k == IOP_i64_store32 - IOP_i32_load,
                              "a _k form parallels each memory iop");
                int iop_k = IOP_i32_load_k + (iop - IOP_i32_load);
                uint32_t k;
                bool folded;
                if (code >= WASM_OP_i32_store) {
                    uint32_t h = c->height - 2;
                    if (rmw_fuse(c, iop, moff)) break;
                    uint32_t sa = addr_operand(c, h, &k, &folded, off);
                    uint32_t sv = src_slot(c, h + 1, off);
                    op(c, folded ? iop_k : iop, off);
                    put_w(c, sa, sv);
                    put_u(c, moff);
                    if (folded) put_w(c, k, 0);
                    vpop(c, 2);
                    label_here(c);
                } else {
                    uint32_t h = c->height - 1;
                    uint32_t sa = addr_operand(c, h, &k, &folded, off);
                    uint32_t pos = c->n;
                    op(c, folded ? iop_k : iop, off);
                    put_w(c, slot(c, h), sa);
                    put_u(c, moff);
                    if (folded) put_w(c, k, 0);
                    vpop(c, 1);
                    vpush(c, V_STK, 0, 0);
                    produced(c, pos + 1);
                    c->ld_pos = pos;
                    c->ld_end = c->n;
                    c->ld_iop = iop;
                    c->ld_k = k;
                }
                break;
            }
            if (numeric_iop(code, &ss, &sc, &kind) < 0) {
                why = "unknown instruction";
                goto malformed;
            }
            if (dead) break;
            if (kind == 2) emit_binary(c, ss, sc, cmp_row_of(ss), off);
            else emit_unary(c, ss, ss == IOP_i32_eqz, off);
            break;
        }
        }
    }
    if (c->oom) return -ENOMEM;
    return 0;
malformed:
    if (d) {
        d->rc = SL_EPROTO;
        d->func_index = f->index;
        d->offset = (uint32_t)(r.p - m->bytes);
        snprintf(d->msg, sizeof d->msg, "compile: %s", why ? why : "malformed code");
    }
    return SL_EPROTO;
}

int wasm__compile(wasm_instance *inst, wasm_func *f, wasm_diag *d) {
    const wasm_module *m = inst->module;
    const wasm_funcdef *fd = &m->funcs[f->index];
    comp c;
    int rc;
    SL_ASSERT(!f->is_host);
    SL_ASSERT(fd->import_index == UINT32_MAX);
    memset(&c, 0, sizeof(c));
    c.inst = inst;
    c.m = m;
    c.labels = wasm__labels();
    c.nlocals = f->param_count + fd->local_count;
    c.copy_end = UINT32_MAX;
    label_here(&c);
    rc = compile_body(&c, f, fd, d);
    if (rc == 0) {
        for (uint32_t i = 0; i < c.reloc_n; i++) {
            uint32_t cell = c.relocs[i];
            SL_ASSERT(c.code[cell].u < c.n);
            c.code[cell].p = &c.code[c.code[cell].u];
        }
        f->code = c.code;
        f->offsets = c.offs;
        f->offset_count = c.offs_n;
        f->local_count = fd->local_count;
        f->mem0 = inst->memory_count ? inst->memories[0] : &wasm__no_memory;
        /* The frame: locals, the deepest operand stack, and one spare slot (stack-form
         * ops address fp[t] with t = slots in use); at least the slots exec zeroes. */
        f->frame_slots = c.nlocals + SL_MAX(c.max_height, fd->max_stack) + 1;
        f->frame_slots = SL_MAX(f->frame_slots, f->param_count + WASM__ZERO_SLOTS);
        c.code = NULL;
        c.offs = NULL;
    } else if (rc == -ENOMEM && d) {
        d->rc = rc;
        d->func_index = f->index;
        snprintf(d->msg, sizeof d->msg, "out of memory compiling function %u", f->index);
    }
    mem_free(MEM_WASM, c.code);
    mem_free(MEM_WASM, c.offs);
    mem_free(MEM_WASM, c.relocs);
    mem_free(MEM_WASM, c.ctls);
    mem_free(MEM_WASM, c.vs);
    return rc;
}
