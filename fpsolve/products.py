"""Small-matrix products with a fixed summation order, for Numba kernels.

``product(out, coef, rows)`` sets ``out[m, c] = sum_k coef[k, m] rows[k, c]`` (that is
``out = coef^T rows``) and ``product_noise(out, coef, rows, scale, sd, z)`` sets
``out = scale (coef^T rows) + sd z``.  Every sum runs over ``k`` in order, one multiply
and one add per term (no fused multiply-add, no reassociation), so the results equal
those of the plain in-order loop bit for bit (up to the sign of a zero) on every
machine and for every thread count.

The matrices of the RBM trainer are too small for BLAS (1,000 to 1,600 multiplies
per product, and OpenBLAS serialises concurrent small calls from several threads).
Plain Numba loops over them vectorise poorly: the vectorised loop takes 8 values per
iteration, so a row of 10 leaves 2 to scalar code, and every output row repeats the
loop set-up.  So the products are built from register blocks written directly in
LLVM IR through :func:`numba.extending.intrinsic` (llvmlite is Numba's own IR
builder): a block of ``mr`` rows and ``4 nv`` columns of ``out`` is held in
``mr * nv`` four-wide vectors while ``k`` runs, and stored once.  On the trainer's
products this was 1.86x to 2.0x faster than those loops (``docs/benchmarks/rbm.md``).
Columns are covered by blocks of 16, 8 and 4; a last partial block of columns (or
rows) is a block shifted back so that it ends at the edge, which recomputes a few
values identically instead of falling back to scalar code.  Only matrices with fewer
than four columns (or no terms) use a plain loop.

The same holds for the sums over lanes: :func:`lane_sum` and :func:`lane_subtract` add up
(or subtract) ``n`` products ``coef[k] * rows[k]`` for :data:`LANES` independent lanes at
once, the lanes held in four-wide vectors while ``k`` runs, and :func:`lane_rotate` applies a
plane rotation to two rows of lanes.  The kernels that step :data:`LANES` replicas together
(levels b and c of :mod:`fpsolve.sgd`) keep each replica's entries next to each other, so that
each lane is one replica doing exactly the arithmetic it does alone.

All arrays must be C-contiguous float64 matrices with ``coef`` of shape
``(n_k, n_out)``, ``rows`` and ``z`` of shape ``(n_k, n_cols)`` and ``(n_out, n_cols)``,
and ``out`` of shape ``(n_out, n_cols)``, distinct from ``coef``, ``rows`` and ``z``.
Shapes are not checked: the callers are jitted kernels that allocate these arrays
(the Gaussian-RBM trainer of :mod:`validation.training`).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from fpsolve.jit import jit

__all__ = ["LANES", "lane_rotate", "lane_subtract", "lane_sum", "product", "product_noise"]

_F64 = ir.DoubleType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_VEC = ir.VectorType(_F64, 4)


def _is_c_float(a):
    return isinstance(a, types.Array) and a.layout == "C" and a.dtype == types.float64


def _is_c_matrix(a):
    return _is_c_float(a) and a.ndim == 2


def _block(mr, nv, noise):
    """Intrinsic ``block(out, coef, rows, m0, c0, scale, sd, z)`` for one register block.

    ``acc[r, j] = sum_k coef[k, m0 + r] rows[k, c0 + j]`` for ``r < mr`` and ``j < 4 nv``,
    ``k`` in order; stored as ``out[m0 + r, c0 + j] = acc`` or, with ``noise``, as
    ``scale * acc + sd * z[m0 + r, c0 + j]`` (without ``noise``, ``scale``, ``sd`` and
    ``z`` are ignored).
    """

    def typer(typingctx, out, coef, rows, m0, c0, scale, sd, z):
        if not all(_is_c_matrix(a) for a in (out, coef, rows, z)):
            return None
        sig = types.void(out, coef, rows, types.intp, types.intp, types.float64, types.float64, z)

        def codegen(context, builder, signature, args):
            out_a, coef_a, rows_a, z_a = (
                context.make_array(signature.args[i])(context, builder, value=args[i])
                for i in (0, 1, 2, 7)
            )
            m0, c0 = args[3], args[4]
            n_k, rows_ld = cgutils.unpack_tuple(builder, rows_a.shape, 2)
            coef_ld = cgutils.unpack_tuple(builder, coef_a.shape, 2)[1]
            out_ld = cgutils.unpack_tuple(builder, out_a.shape, 2)[1]
            vec_ptr = _VEC.as_pointer()

            def const(i):
                return ir.Constant(_I64, i)

            def vec_at(data, idx):
                return builder.bitcast(builder.gep(data, [idx]), vec_ptr)

            def broadcast(x):
                v = builder.insert_element(ir.Constant(_VEC, ir.Undefined), x, ir.Constant(_I32, 0))
                zeros = ir.Constant(ir.VectorType(_I32, 4), [0, 0, 0, 0])
                return builder.shuffle_vector(v, ir.Constant(_VEC, ir.Undefined), zeros)

            def terms(k):  # coef[k, m0 + r] * rows[k, c0 + 4 j : c0 + 4 j + 4]
                c_at = builder.add(builder.mul(k, coef_ld), m0)
                r_at = builder.add(builder.mul(k, rows_ld), c0)
                cs = [
                    broadcast(builder.load(builder.gep(coef_a.data, [builder.add(c_at, const(r))])))
                    for r in range(mr)
                ]
                rs = [
                    builder.load(vec_at(rows_a.data, builder.add(r_at, const(4 * j))), align=8)
                    for j in range(nv)
                ]
                return [[builder.fmul(c, x) for x in rs] for c in cs]

            # accumulators live in allocas, which LLVM promotes to registers
            acc = [[cgutils.alloca_once(builder, _VEC) for _ in range(nv)] for _ in range(mr)]
            for acc_r, t_r in zip(acc, terms(const(0)), strict=True):
                for a, t in zip(acc_r, t_r, strict=True):
                    builder.store(t, a)
            with cgutils.for_range_slice(builder, const(1), n_k, const(1)) as (k, _):
                for acc_r, t_r in zip(acc, terms(k), strict=True):
                    for a, t in zip(acc_r, t_r, strict=True):
                        builder.store(builder.fadd(builder.load(a), t), a)
            if noise:
                scale, sd = broadcast(args[5]), broadcast(args[6])
            for r in range(mr):
                o_at = builder.add(builder.mul(builder.add(m0, const(r)), out_ld), c0)
                for j in range(nv):
                    idx = builder.add(o_at, const(4 * j))
                    v = builder.load(acc[r][j])
                    if noise:
                        zv = builder.load(vec_at(z_a.data, idx), align=8)
                        v = builder.fadd(builder.fmul(scale, v), builder.fmul(sd, zv))
                    builder.store(v, vec_at(out_a.data, idx), align=8)
            return context.get_dummy_value()

        return sig, codegen

    return intrinsic(typer)


def _make_product(noise):
    """The product over whole matrices, from register blocks (``noise`` as in :func:`_block`)."""
    b24, b14, b42, b12, b41, b11 = (
        _block(mr, nv, noise) for mr, nv in ((2, 4), (1, 4), (4, 2), (1, 2), (4, 1), (1, 1))
    )

    @jit(inline="always")
    def columns(out, coef, rows, c0, nv, scale, sd, z):
        """Columns ``c0 .. c0 + 4 nv`` of every row: 2 x 16, 4 x 8 or 4 x 4 blocks."""
        n_out = out.shape[0]
        mr = 2 if nv == 4 else 4
        if n_out < mr:
            for m in range(n_out):
                if nv == 4:
                    b14(out, coef, rows, m, c0, scale, sd, z)
                elif nv == 2:
                    b12(out, coef, rows, m, c0, scale, sd, z)
                else:
                    b11(out, coef, rows, m, c0, scale, sd, z)
            return
        m = 0
        while m < n_out:
            m = min(m, n_out - mr)  # the last block may overlap the one before
            if nv == 4:
                b24(out, coef, rows, m, c0, scale, sd, z)
            elif nv == 2:
                b42(out, coef, rows, m, c0, scale, sd, z)
            else:
                b41(out, coef, rows, m, c0, scale, sd, z)
            m += mr

    @jit(inline="always")
    def product(out, coef, rows, scale, sd, z):
        n_out, n_c = out.shape
        n_k = rows.shape[0]
        if n_k == 0 or n_c < 4:
            for m in range(n_out):
                for c in range(n_c):
                    acc = coef[0, m] * rows[0, c] if n_k > 0 else 0.0
                    for k in range(1, n_k):
                        acc += coef[k, m] * rows[k, c]
                    out[m, c] = scale * acc + sd * z[m, c] if noise else acc
            return
        c = 0
        while c + 16 <= n_c:
            columns(out, coef, rows, c, 4, scale, sd, z)
            c += 16
        if c + 8 <= n_c:
            columns(out, coef, rows, c, 2, scale, sd, z)
            c += 8
        if c + 4 <= n_c:
            columns(out, coef, rows, c, 1, scale, sd, z)
            c += 4
        if c < n_c:
            columns(out, coef, rows, n_c - 4, 1, scale, sd, z)  # overlaps the block before

    return product


_plain = _make_product(noise=False)
_noisy = _make_product(noise=True)


@jit(inline="always")
def product(out, coef, rows):
    """``out[m, c] = sum_k coef[k, m] rows[k, c]`` (``out = coef^T rows``), ``k`` in order."""
    _plain(out, coef, rows, 1.0, 0.0, out)


@jit(inline="always")
def product_noise(out, coef, rows, scale, sd, z):
    """``out = scale (coef^T rows) + sd z``, the product summed as in :func:`product`."""
    _noisy(out, coef, rows, scale, sd, z)


# --------------------------------------------------------------------------- lanes
LANES = 16
"""Lanes of :func:`lane_sum`, :func:`lane_subtract` and :func:`lane_rotate`: the replicas of a
batch."""


def _lane_terms(subtract):
    """Intrinsic ``(out, o, coef, c0, cs, rows, r0, rs, n)`` over :data:`LANES` lanes.

    With ``a_k = coef[c0 + k cs + q]`` and ``b_k = rows[r0 + k rs + q]`` for lane ``q``
    (offsets into the arrays' flat C-order data): ``out[o + q] = a_0 b_0 + a_1 b_1 + ...
    + a_{n-1} b_{n-1}`` (``n >= 1``), or, with ``subtract``, ``out[o + q] = ((out[o + q]
    - a_0 b_0) - a_1 b_1) - ...`` (``n >= 0``); ``k`` in order, one multiply and one add
    or subtract per term, the lanes held in four-wide vectors while ``k`` runs.
    """
    n_vec = LANES // 4

    def typer(typingctx, out, o, coef, c0, cs, rows, r0, rs, n):
        if not all(_is_c_float(a) for a in (out, coef, rows)):
            return None
        sig = types.void(out, types.intp, coef, types.intp, types.intp, rows, types.intp,
                         types.intp, types.intp)  # fmt: skip

        def codegen(context, builder, signature, args):
            out_a, coef_a, rows_a = (
                context.make_array(signature.args[i])(context, builder, value=args[i])
                for i in (0, 2, 5)
            )
            o, c0, cs, r0, rs, n = (args[i] for i in (1, 3, 4, 6, 7, 8))
            vec_ptr = _VEC.as_pointer()

            def load(data, at, v):
                idx = builder.add(at, ir.Constant(_I64, 4 * v))
                return builder.load(builder.bitcast(builder.gep(data, [idx]), vec_ptr), align=8)

            def terms(k):
                c_at = builder.add(c0, builder.mul(k, cs))
                r_at = builder.add(r0, builder.mul(k, rs))
                return [
                    builder.fmul(load(coef_a.data, c_at, v), load(rows_a.data, r_at, v))
                    for v in range(n_vec)
                ]

            acc = [cgutils.alloca_once(builder, _VEC) for _ in range(n_vec)]
            if subtract:
                start = ir.Constant(_I64, 0)
                for v in range(n_vec):
                    builder.store(load(out_a.data, o, v), acc[v])
            else:
                start = ir.Constant(_I64, 1)
                for a, t in zip(acc, terms(ir.Constant(_I64, 0)), strict=True):
                    builder.store(t, a)
            with cgutils.for_range_slice(builder, start, n, ir.Constant(_I64, 1)) as (k, _):
                for a, t in zip(acc, terms(k), strict=True):
                    old = builder.load(a)
                    builder.store(builder.fsub(old, t) if subtract else builder.fadd(old, t), a)
            for v in range(n_vec):
                idx = builder.add(o, ir.Constant(_I64, 4 * v))
                ptr = builder.bitcast(builder.gep(out_a.data, [idx]), vec_ptr)
                builder.store(builder.load(acc[v]), ptr, align=8)
            return context.get_dummy_value()

        return sig, codegen

    return intrinsic(typer)


_lane_sum = _lane_terms(subtract=False)
_lane_subtract = _lane_terms(subtract=True)


@jit(inline="always")
def lane_sum(out, o, coef, c0, cs, rows, r0, rs, n):
    """``out[o + q] = sum_k coef[c0 + k cs + q] rows[r0 + k rs + q]`` for every lane ``q <
    LANES``, ``k = 0 .. n - 1`` in order (``n >= 1``); offsets into the flat C-order data."""
    _lane_sum(out, o, coef, c0, cs, rows, r0, rs, n)


@jit(inline="always")
def lane_subtract(out, o, coef, c0, cs, rows, r0, rs, n):
    """``out[o + q] -= coef[c0 + k cs + q] rows[r0 + k rs + q]`` for ``k = 0 .. n - 1`` in
    order (``n >= 0``), every lane ``q < LANES``, one term at a time."""
    _lane_subtract(out, o, coef, c0, cs, rows, r0, rs, n)


def _lane_rotation():
    """Intrinsic ``(a, i, j, c, s)``: rows ``i`` and ``j`` of ``a`` (``(rows, LANES)``) become
    ``c a_i - s a_j`` and ``s a_i + c a_j``, lane by lane (``c``, ``s`` of shape ``(LANES,)``)."""

    def typer(typingctx, a, i, j, c, s):
        if not all(_is_c_float(x) for x in (a, c, s)):
            return None
        sig = types.void(a, types.intp, types.intp, c, s)

        def codegen(context, builder, signature, args):
            a_a, c_a, s_a = (
                context.make_array(signature.args[k])(context, builder, value=args[k])
                for k in (0, 3, 4)
            )
            vec_ptr = _VEC.as_pointer()
            lanes = ir.Constant(_I64, LANES)
            at_i = builder.mul(args[1], lanes)
            at_j = builder.mul(args[2], lanes)

            def ptr(data, at, v):
                idx = builder.add(at, ir.Constant(_I64, 4 * v))
                return builder.bitcast(builder.gep(data, [idx]), vec_ptr)

            zero = ir.Constant(_I64, 0)
            for v in range(LANES // 4):
                cv = builder.load(ptr(c_a.data, zero, v), align=8)
                sv = builder.load(ptr(s_a.data, zero, v), align=8)
                pi, pj = ptr(a_a.data, at_i, v), ptr(a_a.data, at_j, v)
                x, y = builder.load(pi, align=8), builder.load(pj, align=8)
                builder.store(builder.fsub(builder.fmul(cv, x), builder.fmul(sv, y)), pi, align=8)
                builder.store(builder.fadd(builder.fmul(sv, x), builder.fmul(cv, y)), pj, align=8)
            return context.get_dummy_value()

        return sig, codegen

    return intrinsic(typer)


_lane_rotate = _lane_rotation()


@jit(inline="always")
def lane_rotate(a, i, j, c, s):
    """Rows ``i``, ``j`` of ``a`` (``(rows, LANES)``) become ``c a_i - s a_j`` and
    ``s a_i + c a_j``, lane by lane."""
    _lane_rotate(a, i, j, c, s)
