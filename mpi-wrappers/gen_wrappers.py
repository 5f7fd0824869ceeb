#!/usr/bin/env python3
"""gen_wrappers.py - write the boring MPI wrappers from mpi_functions.def (run by the build).

    gen_wrappers.py mpi_functions.def OUT.c

Writes one C function per GEN entry (and a refusing stub per UNSUP entry) of the list into
OUT.c in the build directory. HAND and LOCAL entries and WRAP_DATA are written by hand in
mpi-wrappers/*.c; they are only checked to exist here (see --check-hand).

Shape of a generated wrapper (every handle goes through the per-kind functions of
wrap_handles.h, translated *before* the gate and *after* it, never between):

    ret PMPI_x(params)
    {
        void *f_ = wrap_lower_fn(WRAP_IDX_MPI_x);
        if (!f_) return <error value>;              (message naming MPI_x, once)
        <lower copies of handle inputs / inout arguments>
        uint64_t g_ = wrap_gate_enter();
        ret r_ = ((__typeof__(&PMPI_x))f_)(args);
        wrap_gate_leave(g_);
        <handle outputs translated back>
        return r_;
    }
    MPI_x: weak alias of PMPI_x
"""
import re
import sys

HANDLE_TYPES = {
    "comm": "MPI_Comm", "group": "MPI_Group", "datatype": "MPI_Datatype", "op": "MPI_Op",
    "request": "MPI_Request", "errhandler": "MPI_Errhandler", "info": "MPI_Info",
    "win": "MPI_Win", "file": "MPI_File", "message": "MPI_Message", "session": "MPI_Session",
}

# Value returned when the lower half lacks the function, per return type.
ERROR_VALUE = {
    "int": "wrap_unavailable(%s)",
    "double": "(wrap_unavailable(%s), 0.0)",
    "MPI_Aint": "(wrap_unavailable(%s), (MPI_Aint)0)",
    "MPI_Fint": "(wrap_unavailable(%s), (MPI_Fint)0)",
    "MPI_File": "(wrap_unavailable(%s), MPI_FILE_NULL)",
}

ENTRY = re.compile(r'^WRAP_FN\((\w+), ([^,]+), (\w+), "(\w+)", \((.*)\), \((.*)\), "(.*)"\)$')
DATA = re.compile(r'^WRAP_DATA\((\w+), "(\w+)"\)$')


def parse(path):
    entries = []
    for ln, line in enumerate(open(path), 1):
        line = line.strip()
        if not line.startswith("WRAP_"):
            continue
        m = ENTRY.match(line)
        if m:
            kind, ret, name, lower, params, args, notes = m.groups()
            hs = []
            for n in notes.split():
                hn, hk, hd = n.split(":")
                ln_expr = None
                am = re.match(r"^(\w+)\[(.*)\]$", hd)
                if am:
                    hd, ln_expr = am.group(1), am.group(2)
                if hk not in HANDLE_TYPES:
                    sys.exit("%s:%d: unknown handle kind %s" % (path, ln, hk))
                hs.append((hn, hk, hd, ln_expr))
            entries.append(dict(kind=kind, ret=ret.strip(), name=name, lower=lower,
                                params=params, args=[a.strip() for a in args.split(",") if
                                                     a.strip()], handles=hs))
            continue
        if DATA.match(line):
            continue
        sys.exit("%s:%d: cannot parse: %s" % (path, ln, line))
    return entries


def public_names(name):
    """(strong symbol, weak alias or None)."""
    if name.startswith(("MPI_", "MPIX_")):
        return "P" + name, name
    return name, None


def gen_one(e):
    strong, weak = public_names(e["name"])
    idx = "WRAP_IDX_" + e["name"]
    ret = e["ret"]
    out = []
    out.append("WRAP_EXPORT %s %s(%s)" % (ret, strong, e["params"]))
    out.append("{")
    if e["kind"] == "UNSUP":
        if ret == "void":
            out.append("\twrap_unsupported(%s);" % idx)
        else:
            out.append("\treturn %s;" % error_value(ret, idx).replace(
                "wrap_unavailable", "wrap_unsupported"))
        out.append("}")
        if weak:
            out.append("WRAP_ALIAS(%s, %s)" % (strong, weak))
        return out
    out.append("\tvoid *f_ = wrap_lower_fn(%s);" % idx)
    out.append("\tif (__builtin_expect(f_ == NULL, 0))")
    if ret == "void":
        out.append("\t{\n\t\twrap_unavailable(%s);\n\t\treturn;\n\t}" % idx)
    else:
        out.append("\t\treturn %s;" % error_value(ret, idx))

    call_args = list(e["args"])
    before, after = [], []
    for hn, hk, hd, ln_expr in e["handles"]:
        t = HANDLE_TYPES[hk]
        n = "-1L" if ln_expr in (None, "?") else "(long)(%s)" % ln_expr
        if hn == "return":
            continue
        i = call_args.index(hn)
        if ln_expr is not None:  # array of handles
            if hd == "in":
                before.append("\t%s *l_%s = wrap_%s_array_to_lower(%s, %s);" % (t, hn, hk, hn, n))
                call_args[i] = "l_" + hn
            elif hd == "out":
                after.append("\twrap_%s_array_from_lower(%s, %s);" % (hk, hn, n))
            else:
                before.append("\t%s *l_%s = wrap_%s_array_inout_to_lower(%s, %s);" %
                              (t, hn, hk, hn, n))
                call_args[i] = "l_" + hn
                after.append("\twrap_%s_array_inout_from_lower(%s, l_%s, %s);" % (hk, hn, hn, n))
        elif hd == "in":
            before.append("\t%s l_%s = wrap_%s_to_lower(%s);" % (t, hn, hk, hn))
            call_args[i] = "l_" + hn
        elif hd == "out":
            ok = "r_ == MPI_SUCCESS && " if ret == "int" else ""
            after.append("\tif (%s%s)\n\t\t*%s = wrap_%s_from_lower(*%s);" % (ok, hn, hn, hk, hn))
        else:  # inout scalar through a pointer
            before.append("\t%s l_%s = %s ? wrap_%s_to_lower(*%s) : (%s)0;" %
                          (t, hn, hn, hk, hn, t))
            call_args[i] = "%s ? &l_%s : NULL" % (hn, hn)
            after.append("\tif (%s)\n\t\t*%s = wrap_%s_from_lower(l_%s);" % (hn, hn, hk, hn))
    out += before
    call = "((__typeof__(&%s))f_)(%s)" % (strong, ", ".join(call_args))
    out.append("\tuint64_t g_ = wrap_gate_enter();")
    if ret == "void":
        out.append("\t%s;" % call)
    else:
        out.append("\t%s r_ = %s;" % (ret, call))
    out.append("\twrap_gate_leave(g_);")
    out += after
    for hn, hk, hd, ln_expr in e["handles"]:
        if hn == "return":
            out.append("\tr_ = wrap_%s_from_lower(r_);" % hk)
    if ret != "void":
        out.append("\treturn r_;")
    out.append("}")
    if weak:
        out.append("WRAP_ALIAS(%s, %s)" % (strong, weak))
    return out


def error_value(ret, idx):
    if ret not in ERROR_VALUE:
        sys.exit("no error value for return type %s" % ret)
    return ERROR_VALUE[ret] % idx


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_wrappers.py mpi_functions.def OUT.c")
    entries = parse(sys.argv[1])
    lines = [
        "/* wrap_generated.c - DO NOT EDIT: written by mpi-wrappers/gen_wrappers.py from",
        " * mpi-wrappers/mpi_functions.def. Every GEN entry: handles translated, call gate, lower",
        " * MPICH function from the contract; every UNSUP entry: a clear refusal. */",
        '#include "wrap.h"',
        "",
        "#pragma GCC diagnostic ignored \"-Wunused-parameter\"",
        "",
    ]
    n = {"GEN": 0, "UNSUP": 0}
    for e in entries:
        if e["kind"] not in n:
            continue
        n[e["kind"]] += 1
        lines += gen_one(e)
        lines.append("")
    lines.append("/* %d generated wrappers, %d refusing stubs */" % (n["GEN"], n["UNSUP"]))
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    import os
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])


if __name__ == "__main__":
    main()
