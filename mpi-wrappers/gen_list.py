#!/usr/bin/env python3
"""gen_list.py - write mpi_functions.def, the one list of every MPI entry point we wrap.

Run by hand when the MPICH headers change (the .def is committed; it is the source of truth):

    python3 mpi-wrappers/gen_list.py > mpi-wrappers/mpi_functions.def

It runs the C preprocessor over MPICH's mpi.h (with the C++ bindings left out), takes every
declared MPI_* and MPIX_* function (the PMPI_ twins are implied), adds MPIR_Dup_fn (what the
MPI_DUP_FN macro names), the MPII_* symbols that Debian's libmpichfort.so.12 and
libmpichcxx.so.12 import (their prototypes are in MPICH's internal headers, so they are listed
here by hand), and the data symbols whose value the upper half must translate.

For each function it decides the wrapper kind (GEN: generated pass-through; HAND: written by
hand in mpi-wrappers/*.c; UNSUP: refused with a clear error; LOCAL: implemented in the upper
half) and annotates every handle argument (name:kind:direction[length]) from its C type, so
that the wrapper generator can route each one through the per-kind translation functions.
"""
import re
import subprocess
import sys

MPI_INCLUDE = "/usr/include/x86_64-linux-gnu/mpich"

# C type name -> handle kind (one translation table per kind, DESIGN 2.5).
HANDLE_KINDS = {
    "MPI_Comm": "comm",
    "MPI_Group": "group",
    "MPI_Datatype": "datatype",
    "MPI_Op": "op",
    "MPI_Request": "request",
    "MPI_Errhandler": "errhandler",
    "MPI_Info": "info",
    "MPI_Win": "win",
    "MPI_File": "file",
    "MPI_Message": "message",
    "MPI_Session": "session",
}

# Attribute keyvals are plain ints in mpi.h; they are handles all the same (MPICH encodes them
# like the others, kind 9) and are made again after a restart, so they are translated too:
# parameters of type int with one of these names.
KEYVAL_NAMES = {"keyval", "comm_keyval", "type_keyval", "win_keyval"}

# Wrappers written by hand (callbacks, variadic, thread level, sentinel pointers).
HAND = {
    "MPI_Pcontrol",
    "MPI_Init", "MPI_Init_thread", "MPI_Query_thread", "MPI_Is_thread_main",
    "MPI_Op_create", "MPI_Op_create_c",
    "MPI_Comm_create_errhandler", "MPI_Errhandler_create", "MPI_Win_create_errhandler",
    "MPI_File_create_errhandler", "MPI_Session_create_errhandler",
    "MPI_Comm_create_keyval", "MPI_Type_create_keyval", "MPI_Win_create_keyval",
    "MPI_Keyval_create",
    "MPI_Grequest_start",
    "MPI_Register_datarep", "MPI_Register_datarep_c",
    "MPI_Dist_graph_create", "MPI_Dist_graph_create_adjacent", "MPI_Dist_graph_neighbors",
    "MPI_T_pvar_start", "MPI_T_pvar_stop", "MPI_T_pvar_reset",
    "MPII_Keyval_set_proxy", "MPII_Op_set_cxx", "MPII_Errhandler_set_cxx",
    "MPII_Grequest_set_lang_f77",
    # virtual handles: only the lower MPI knows how many of the output array are filled in;
    # a file handle is a pointer, its Fortran integer is ours
    "MPI_Type_get_contents", "MPI_Type_get_contents_c", "MPI_File_c2f", "MPI_File_f2c",
    # memory MPI would allocate in the lower half: upper memory instead (wrap_vh_win.c)
    "MPI_Alloc_mem", "MPI_Free_mem", "MPI_Win_allocate", "MPI_Win_allocate_c",
    # an exposure epoch's wait as a Win_test loop that steps out at a checkpoint (wrap_vh_win.c)
    "MPI_Win_wait",
    # an access epoch's start waits for the targets' posts in a loop that steps out at a
    # checkpoint; the post tells its origins (wrap_vh_win.c)
    "MPI_Win_post", "MPI_Win_start",
    # point-to-point under checkpointing (wrap_p2p.c, wrap_p2p_wait.c): blocking calls as
    # wait loops, counters, drained messages delivered first
    *("MPI_" + n for n in (
        "Send Send_c Ssend Ssend_c Rsend Rsend_c Bsend Bsend_c Isend Isend_c Issend Issend_c "
        "Irsend Irsend_c Ibsend Ibsend_c Recv Recv_c Irecv Irecv_c Sendrecv Sendrecv_c "
        "Sendrecv_replace Sendrecv_replace_c Probe Iprobe Mprobe Improbe Mrecv Mrecv_c Imrecv "
        "Imrecv_c Wait Waitall Waitany Waitsome Test Testall Testany Testsome "
        "Request_get_status Request_free Cancel Start Startall Buffer_attach Buffer_attach_c "
        "Buffer_detach Buffer_detach_c").split()),
    # answered in the upper half, no gate (wrap_vh_comm.c, wrap_wtime.c)
    "MPI_Comm_rank", "MPI_Comm_size", "MPI_Comm_remote_size", "MPI_Comm_test_inter",
    "MPI_Wtime", "MPI_Wtick",
}

# Functions that take a callback we cannot route yet: refused with a clear error.
UNSUP = {
    "MPIX_Grequest_start": "its poll/wait callbacks get arrays of extra states",
    "MPIX_Grequest_class_create": "its poll/wait callbacks get arrays of extra states",
    "MPIX_Grequest_class_allocate": "it needs MPIX_Grequest_class_create",
    "MPI_T_event_register_callback": "MPI_T event callbacks are not routed to the upper half",
    "MPI_T_event_handle_free": "MPI_T event callbacks are not routed to the upper half",
    "MPI_T_event_set_dropped_handler": "MPI_T event callbacks are not routed to the upper half",
}

LOCAL = {"MPIR_Dup_fn"}

# MPII_* entry points of MPICH 4.0.2 used by libmpichfort/libmpichcxx (src/include/mpir_attr_generic.h,
# src/mpi/errhan/errutil.c, src/mpi/coll/op/op_impl.c, src/mpi/request/grequest.c).
MPII_EXTRA = [
    ("void", "MPII_Keyval_set_proxy",
     "int keyval, wrap_attr_copy_proxy *copy_proxy, wrap_attr_delete_proxy *delete_proxy"),
    ("void", "MPII_Op_set_cxx", "MPI_Op op, void (*opcall)(void)"),
    ("void", "MPII_Errhandler_set_cxx", "MPI_Errhandler errhand, void (*errcall)(void)"),
    ("void", "MPII_Grequest_set_lang_f77", "MPI_Request greq"),
    ("int", "MPII_Comm_set_attr", "MPI_Comm comm, int keyval, void *attribute_val, int attrib_type"),
    ("int", "MPII_Type_set_attr", "MPI_Datatype datatype, int keyval, void *attribute_val, int attrib_type"),
    ("int", "MPII_Win_set_attr", "MPI_Win win, int keyval, void *attribute_val, int attrib_type"),
    ("int", "MPII_Comm_get_attr",
     "MPI_Comm comm, int keyval, void *attribute_val, int *flag, int attrib_type"),
    ("int", "MPII_Type_get_attr",
     "MPI_Datatype datatype, int keyval, void *attribute_val, int *flag, int attrib_type"),
    ("int", "MPII_Win_get_attr",
     "MPI_Win win, int keyval, void *attribute_val, int *flag, int attrib_type"),
]

# Data symbols of libmpich.so.12 whose *value* (a pointer) the lower MPICH compares against:
# the upper half exports its own, and translates to the lower half's where they are passed.
DATA = [
    "MPI_UNWEIGHTED", "MPI_WEIGHTS_EMPTY", "MPI_F_STATUS_IGNORE", "MPI_F_STATUSES_IGNORE",
    "MPI_F08_STATUS_IGNORE", "MPI_F08_STATUSES_IGNORE", "MPI_T_PVAR_ALL_HANDLES",
]

# Pointer-to-handle arguments that MPI reads and writes (everything else written is "out"):
# (function name pattern, handle kind).
INOUT = [
    (re.compile(r"_free$|_close$|_disconnect$|^MPI_Session_finalize$|^MPI_Type_commit$|"
                r"_free_keyval$"), None),
    (re.compile(r"^MPI_(Wait|Test|Start|Cancel$)"), "request"),
    (re.compile(r"^MPI_(Mrecv|Imrecv)"), "message"),
]


def is_inout(fname, kind):
    return any(rx.search(fname) and k in (None, kind) for rx, k in INOUT)


ARRAY_LEN_NAMES = ("count", "incount", "max_datatypes")


def preprocess():
    src = subprocess.run(
        ["gcc", "-E", "-P", "-DMPICH_SKIP_MPICXX", "-I" + MPI_INCLUDE, "-x", "c", "-"],
        input="#include <mpi.h>\n", capture_output=True, text=True, check=True).stdout
    stmts, depth, cur = [], 0, []
    for ch in src:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == ";" and depth == 0:
            stmts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    fns = {}
    for s in stmts:
        s = " ".join(s.split())
        if s.startswith(("typedef", "extern")):
            continue
        s = re.sub(r"__attribute__\s*\(\(.*?\)\)", "", s).strip()
        m = re.match(r"^(.*?)\b(\w+)\s*\((.*)\)$", s)
        if not m:
            continue
        ret, name, params = m.groups()
        if re.match(r"^P?MPIX?_|^MPIR_Dup_fn$", name):
            fns[name] = (" ".join(ret.split()), params)
    return fns


def split_params(params):
    out, depth, cur = [], 0, ""
    for ch in params:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    if out == ["void"]:
        return []
    return out


TYPE_WORDS = {"const", "struct", "unsigned", "signed", "long", "short", "int", "char", "void",
              "double", "float"}


def name_param(p, i):
    """Return (declaration with a name, name). Unnamed parameters get the name p<i>."""
    if p == "...":
        return p, "..."
    last = re.findall(r"[A-Za-z_]\w*", p)[-1]
    if last not in TYPE_WORDS and not re.match(r"^(MPIX?|QMPI|wrap)_", last):
        return p, last
    nm = "p%d" % i
    m = re.match(r"^(.*?)((\[[^\]]*\])*)$", p)
    base, arr = m.group(1).rstrip(), m.group(2)
    sep = "" if base.endswith("*") else " "
    return base + sep + nm + arr, nm


def handle_notes(fname, decls):
    notes = []
    names = [n for _, n in decls]
    for decl, nm in decls:
        if nm == "...":
            continue
        t = decl[: decl.rfind(nm)].strip()
        arr = decl[decl.rfind(nm) + len(nm):].strip()
        const = t.startswith("const ")
        base = t.replace("const ", "").strip()
        stars = base.count("*")
        base = base.replace("*", "").strip()
        kind = HANDLE_KINDS.get(base)
        if base == "int" and nm in KEYVAL_NAMES:
            kind = "keyval"
        if not kind:
            continue
        if arr:
            if stars:
                continue  # no such parameter in MPI
            if const:
                d = "in"
            elif is_inout(fname, kind):
                d = "inout"
            elif fname in ("MPI_Type_struct",):
                d = "in"
            else:
                d = "out"
            ln = next((n for n in ARRAY_LEN_NAMES if n in names), "?")
            notes.append("%s:%s:%s[%s]" % (nm, kind, d, ln))
        elif stars == 0:
            notes.append("%s:%s:in" % (nm, kind))
        elif stars == 1:
            if const:
                d = "in"
            elif is_inout(fname, kind):
                d = "inout"
            else:
                d = "out"
            notes.append("%s:%s:%s" % (nm, kind, d))
    return notes


def entry(kind, ret, name, lower, decls, notes):
    params = ", ".join(d for d, _ in decls) if decls else "void"
    args = ", ".join(n for _, n in decls if n != "...")
    return 'WRAP_FN(%s, %s, %s, "%s", (%s), (%s), "%s")' % (
        kind, ret, name, lower, params, args, " ".join(notes))


def main():
    fns = preprocess()
    lines = []
    counts = {}
    for name in sorted(fns):
        if not re.match(r"^MPIX?_|^MPIR_Dup_fn$", name):
            continue
        ret, params = fns[name]
        if name.startswith("MPI"):
            lower = "P" + name if name.startswith(("MPI_", "MPIX_")) else name
        if name.startswith(("MPI_", "MPIX_")) and ("P" + name) not in fns:
            sys.stderr.write("note: %s has no PMPI twin in mpi.h\n" % name)
        decls = [name_param(p, i) for i, p in enumerate(split_params(params))]
        notes = []
        if ret in HANDLE_KINDS:
            notes.append("return:%s:out" % HANDLE_KINDS[ret])
        notes += handle_notes(name, decls)
        kind = ("HAND" if name in HAND else "UNSUP" if name in UNSUP else
                "LOCAL" if name in LOCAL else "GEN")
        counts[kind] = counts.get(kind, 0) + 1
        lines.append(entry(kind, ret, name, lower, decls, notes))
    for ret, name, params in MPII_EXTRA:
        decls = [name_param(p, i) for i, p in enumerate(split_params(params))]
        notes = handle_notes(name, decls)
        kind = "HAND" if name in HAND else "GEN"
        counts[kind] = counts.get(kind, 0) + 1
        lines.append(entry(kind, ret, name, name, decls, notes))

    print("/*")
    print(" * mpi_functions.def - every C entry point of libmpich.so.12 that the upper half provides.")
    print(" * Written by gen_list.py from MPICH 4.0.2's mpi.h; commit it, regenerate only when MPICH")
    print(" * changes. Entries are only ever appended or changed in place (the position of an entry")
    print(" * is its index in the contract's fn[]).")
    print(" *")
    print(" *   WRAP_FN(kind, return type, name, \"lower-half symbol\", (parameters), (arguments),")
    print(" *           \"handle notes\")")
    print(" *   WRAP_DATA(name, \"lower-half symbol\")")
    print(" *")
    print(" * kind: GEN generated pass-through; HAND written by hand in mpi-wrappers/wrap_*.c; UNSUP")
    print(" * refused with MPI_ERR_UNSUPPORTED_OPERATION and a message; LOCAL done in the upper half.")
    print(" * The lower half fills fn[i] = dlsym(<lower-half symbol>) for EVERY entry, in this order,")
    print(" * also for WRAP_DATA (the address of the data object) and UNSUP/LOCAL ones.")
    print(" * Handle notes: name:kind:in|out|inout, arrays with [length argument or ?].")
    print(" * Counts: %s, %d data." % (", ".join("%s %d" % kv for kv in sorted(counts.items())),
                                       len(DATA)))
    print(" */")
    for line in lines:
        print(line)
    for d in DATA:
        print('WRAP_DATA(%s, "%s")' % (d, d))


if __name__ == "__main__":
    main()
