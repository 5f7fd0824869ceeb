#!/usr/bin/env python3
"""gen_wrappers.py - write the boring MPI wrappers from mpi_functions.def (run by the build).

    gen_wrappers.py mpi_functions.def OUT.c OUT_HOOKS.h

Writes one C function per GEN entry (and a refusing stub per UNSUP entry) of the list into
OUT.c in the build directory, and the prototypes of the hooks (below) into OUT_HOOKS.h. HAND
and LOCAL entries and WRAP_DATA are written by hand in mpi-wrappers/*.c.

Shape of a generated wrapper (every handle goes through the per-kind functions of
wrap_handles.h, translated *before* the gate and *after* it, never between):

    ret PMPI_x(params)
    {
        d_ = wrap_door_enter(kind, comm);           (wrap_door.h: may wait across a restart)
        void *f_ = wrap_lower_fn(WRAP_IDX_MPI_x);   (so: after the door)
        if (!f_) return <error value>;              (message naming MPI_x, once)
        <lower copies of handle inputs / inout arguments>   (scalars first, then arrays)
        uint64_t g_ = wrap_gate_enter();           (STEPLESS: wrap_ckpt_inside[] +1 around)
        ret r_ = ((__typeof__(&PMPI_x))f_)(args);
        wrap_gate_leave(g_);
        <handle outputs translated back; inout: wrap_K_inout_from_lower(old, new)>
        <a new request: wrap_vh_request_new(real, &origin, &args)>
        <wrap_hook_MPI_x(r_, args) for the functions in HOOKS>
        return r_;
    }
    MPI_x: weak alias of PMPI_x

Handle arrays get a stack buffer of WRAP_VH_STACK elements in the wrapper (longer ones are
allocated by the translation function and freed after the call). An array whose length only
the lower MPI knows ([?]: the datatypes of the alltoallw family) gets its length from
wrap_vh_w_count() (size or remote size of the communicator, or its neighbour counts).

Requests: every function that makes a request names its origin (a static struct
wrap_vh_origin: function index, and for the ones that can be made again after a restart -
persistent *_init and MPI_Irecv - a copy of the arguments, the handles among them, and a
generated replay function that calls the lower MPI again with the arguments translated anew).
"""
import re
import sys

HANDLE_TYPES = {
    "comm": "MPI_Comm", "group": "MPI_Group", "datatype": "MPI_Datatype", "op": "MPI_Op",
    "request": "MPI_Request", "errhandler": "MPI_Errhandler", "info": "MPI_Info",
    "win": "MPI_Win", "file": "MPI_File", "message": "MPI_Message", "session": "MPI_Session",
    "keyval": "int",
}

# Functions after which a hand-written hook runs (wrap_vh_*.c), with the result and the
# application's arguments (outputs already translated): it records what a rebuild needs.
HOOKS = {
    "MPI_Type_commit",
    "MPI_Comm_set_errhandler", "MPI_Errhandler_set", "MPI_Win_set_errhandler",
    "MPI_File_set_errhandler",
    "MPI_Comm_set_attr", "MPI_Attr_put", "MPII_Comm_set_attr",
    "MPI_Type_set_attr", "MPII_Type_set_attr", "MPI_Win_set_attr", "MPII_Win_set_attr",
    "MPI_Comm_delete_attr", "MPI_Attr_delete", "MPI_Type_delete_attr", "MPI_Win_delete_attr",
    "MPI_Win_attach", "MPI_Win_detach",
    "MPI_File_open",
    "MPI_Win_fence",  # wrap_seq.c: a fence epoch is open (reopened after a restart)
    # wrap_vh_win.c: open passive-target epochs (flushed at a checkpoint, opened again after a
    # restart) and post/start epochs (a checkpoint is refused while one is open)
    "MPI_Win_lock", "MPI_Win_unlock", "MPI_Win_lock_all", "MPI_Win_unlock_all",
    "MPI_Win_complete", "MPI_Win_test",
}

# Calls that may wait inside the lower MPI for another rank and cannot step out of it for a
# checkpoint (MPICH 4.0.2 measured: Win_lock/lock_all wait for a conflicting lock and for the
# target's progress, Win_complete/flush/unlock for the target's progress): counted in
# wrap_ckpt_inside[] around the gate, so that a checkpoint that gives up waiting names the call.
STEPLESS = {
    "MPI_Win_lock", "MPI_Win_lock_all", "MPI_Win_unlock", "MPI_Win_unlock_all",
    "MPI_Win_complete", "MPI_Win_flush", "MPI_Win_flush_all", "MPI_Win_flush_local",
    "MPI_Win_flush_local_all",
}

# Outputs MPI cannot describe yet (the communicator of a pending MPI_Comm_idup: asking its group
# before completion corrupts it in MPICH 4.0.2): described before the next checkpoint instead.
DEFERRED = {("MPI_Comm_idup", "newcomm"), ("MPI_Comm_idup_with_info", "newcomm")}

# Request-making functions whose arguments are kept so that the request can be made again in
# a fresh MPI: persistent requests (made inactive again) and receives (re-posted).
REPLAY = re.compile(r"_init(_c)?$|^MPI_Irecv(_c)?$")

# Value returned when the lower half lacks the function, per return type.
ERROR_VALUE = {
    "int": "wrap_unavailable(%s)",
    "double": "(wrap_unavailable(%s), 0.0)",
    "MPI_Aint": "(wrap_unavailable(%s), (MPI_Aint)0)",
    "MPI_Fint": "(wrap_unavailable(%s), (MPI_Fint)0)",
    "MPI_File": "(wrap_unavailable(%s), MPI_FILE_NULL)",
}

# ---- the door (wrap_door.h) and collective sequence numbers (docs/mpi-ckpt.md) -------------
# Collectives, derived from the names: the blocking ones of COLL_BASE, their non-blocking
# (MPI_Ix, first letter lower-cased), large-count (_c) and persistent (_init, MPI 4.0: the init
# is collective too) forms; plus the constructors that are collective over a parent
# communicator (CTORS). Each increments seq of its communicator (the first comm input) at the
# door. MPI_Comm_create_group and the *_from_group(s) constructors are collective over a
# group, not over a communicator every member of which calls them: they count on a seq of
# their membership instead (GROUP_COLL below; their new communicator's gid is
# membership-based, wrap_vh_comm.c).
COLL_BASE = {
    "Allgather", "Allgatherv", "Allreduce", "Alltoall", "Alltoallv", "Alltoallw", "Barrier",
    "Bcast", "Exscan", "Gather", "Gatherv", "Reduce", "Reduce_scatter", "Reduce_scatter_block",
    "Scan", "Scatter", "Scatterv", "Neighbor_allgather", "Neighbor_allgatherv",
    "Neighbor_alltoall", "Neighbor_alltoallv", "Neighbor_alltoallw",
}
CTORS = {
    "MPI_Comm_dup", "MPI_Comm_dup_with_info", "MPI_Comm_idup", "MPI_Comm_idup_with_info",
    "MPI_Comm_split", "MPI_Comm_split_type", "MPI_Comm_create", "MPI_Cart_create",
    "MPI_Cart_sub", "MPI_Graph_create", "MPI_Dist_graph_create",
    "MPI_Dist_graph_create_adjacent", "MPI_Intercomm_merge", "MPI_Intercomm_create",
    "MPI_Win_create", "MPI_Win_allocate", "MPI_Win_allocate_c", "MPI_Win_allocate_shared",
    "MPI_Win_allocate_shared_c", "MPI_Win_create_c", "MPI_Win_create_dynamic", "MPI_File_open",
    "MPI_Comm_spawn", "MPI_Comm_spawn_multiple", "MPI_Comm_accept", "MPI_Comm_connect",
    "MPIX_Comm_shrink", "MPIX_Comm_agree",
}
# Collectives on a window or a file: they count on the object's own seq (wrap_seq_of_win/file).
WIN_COLL = {"MPI_Win_fence", "MPI_Win_free"}
FILE_COLL = re.compile(r"^MPI_File_(close|preallocate|seek_shared|set_atomicity|set_info|"
                       r"set_size|set_view|sync|i?(read|write)(_at)?_all(_begin|_end)?(_c)?|"
                       r"(read|write)_ordered(_begin|_end)?(_c)?)$")
# Constructors collective over the members of a group, not over a communicator: they count
# on the seq of that membership (wrap_seq_of_group, wrap_seq.c), which only the members have.
GROUP_COLL = {
    "MPI_Comm_create_group": "wrap_seq_of_group(comm, tag, NULL, group, MPI_GROUP_NULL)",
    "MPI_Comm_create_from_group":
        "wrap_seq_of_group(MPI_COMM_NULL, 0, stringtag, group, MPI_GROUP_NULL)",
    "MPI_Intercomm_create_from_groups":
        "wrap_seq_of_group(MPI_COMM_NULL, 0, stringtag, local_group, remote_group)",
}
# New communicators whose gid is membership-based (set by wrap_vh_comm.c's describe), or
# that are not described at creation (idup: parent-based without the membership).
GID_MEMBERS = {"MPI_Intercomm_create", *GROUP_COLL}
GID_NO_MEMBERS = {"MPI_Comm_idup", "MPI_Comm_idup_with_info"}
# Point-to-point, RMA, I/O and request completion (the rest is LOCAL); both kinds pass the
# door in INTENT and wait in DRAIN/RESTORED: the split is for the reader and the counts.
P2P = re.compile(r"^MPIX?_(I?[BSR]?send|I?recv|Sendrecv|I?m?probe|I?mrecv|Wait|Test|Start|"
                 r"Request_get_status|Cancel|R?put|R?get|R?accumulate|R?get_accumulate|"
                 r"Fetch_and_op|Compare_and_swap|Win_(fence|lock|unlock|flush|post|start|"
                 r"complete|wait|test|sync|free)|File_|Grequest_complete|Send_init|"
                 r"[BSR]send_init|Recv_init|P(send|recv)|Parrived|Pready)")
# Entry points whose door is special: MPI_Finalize waits for any running checkpoint, says
# goodbye to the lower half and stops the service thread (wrap_ckpt.c).
DOOR_SPECIAL = {"MPI_Finalize": "wrap_ckpt_finalize_enter()"}


def obj_collective(e):
    """(C expression of the struct wrap_seq * a window/file/group collective counts on) or
    None."""
    if e["name"] in GROUP_COLL:
        return GROUP_COLL[e["name"]]
    if e["name"] not in WIN_COLL and not FILE_COLL.match(e["name"]):
        return None
    for hn, hk, hd, ln_expr in e["handles"]:
        if hk in ("win", "file") and ln_expr is None and hd in ("in", "inout"):
            null = "MPI_WIN_NULL" if hk == "win" else "MPI_FILE_NULL"
            x = hn if hd == "in" else "(%s ? *%s : %s)" % (hn, hn, null)
            return "wrap_seq_of_%s(%s)" % (hk, x)
    sys.exit("window/file collective %s has no window/file argument" % e["name"])


def is_collective(name):
    if name in CTORS:
        return True
    if name in WIN_COLL or FILE_COLL.match(name):
        return True
    m = re.match(r"^MPI_(\w+?)(_init)?(_c)?$", name)
    if not m:
        return False
    b = m.group(1)
    if b in COLL_BASE:
        return True
    return b[0] == "I" and len(b) > 1 and (b[1].upper() + b[2:]) in COLL_BASE \
        and not m.group(2)


def comm_arg(e):
    """The first communicator input of e (the one a collective counts on), or None."""
    for hn, hk, hd, ln_expr in e["handles"]:
        if hk == "comm" and hd == "in" and ln_expr is None:
            return hn
    return None


def comm_out(e):
    for hn, hk, hd, ln_expr in e["handles"]:
        if hk == "comm" and hd == "out" and ln_expr is None:
            return hn
    return None


def obj_out(e):
    """(name, kind) of a new window or file a collective constructor makes, or None."""
    for hn, hk, hd, ln_expr in e["handles"]:
        if hk in ("win", "file") and hd == "out" and ln_expr is None:
            return hn, hk
    return None


def door_kind(e):
    """(door kind, communicator argument or None) of entry e."""
    if obj_collective(e):
        return "WRAP_DOOR_COLL", None
    if is_collective(e["name"]):
        c = comm_arg(e)
        if c is None:
            sys.exit("collective %s has no communicator input" % e["name"])
        return "WRAP_DOOR_COLL", c
    if P2P.match(e["name"]):
        return "WRAP_DOOR_P2P", None
    return "WRAP_DOOR_LOCAL", None


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


def c_decl_name(p):
    """(declaration as a struct member, name) of one parameter: arrays become pointers."""
    m = re.match(r"^(.*?)(\w+)\s*\[\s*\w*\s*\]$", p)
    if m:
        return "%s*%s" % (m.group(1), m.group(2)), m.group(2)
    return p, re.findall(r"\w+", p)[-1]


def translate(e, arg, req_name=None):
    """Lines before the call, call arguments, lines after the call, for entry e, where
    arg(name) is the C expression of a parameter. req_name: the request output that the
    caller handles itself (not translated here)."""
    call_args = [arg(a) for a in e["args"]]
    before, arrays, after, frees = [], [], [], []
    comm_l = None
    for hn, hk, hd, ln_expr in e["handles"]:
        if hn == "return" or hn == req_name:
            continue
        t = HANDLE_TYPES[hk]
        i = e["args"].index(hn)
        x = arg(hn)
        if ln_expr is not None:  # array of handles, after the scalars (its length may need them)
            arrays.append((hn, hk, hd, ln_expr, t, i, x))
        elif hd == "in":
            before.append("\t%s l_%s = wrap_%s_to_lower(%s);" % (t, hn, hk, x))
            call_args[i] = "l_" + hn
            if hk == "comm":
                comm_l = "l_" + hn
        elif hd == "out":
            ok = "r_ == MPI_SUCCESS && " if e["ret"] == "int" else ""
            fn = "from_lower_deferred" if (e["name"], hn) in DEFERRED else "from_lower"
            after.append("\tif (%s%s)\n\t\t*%s = wrap_%s_%s(*%s);" % (ok, x, x, hk, fn, x))
        else:  # inout scalar through a pointer: the application's old handle is still in *x
            before.append("\t%s l_%s = %s ? wrap_%s_to_lower(*%s) : (%s)0;" % (t, hn, x, hk, x, t))
            call_args[i] = "%s ? &l_%s : NULL" % (x, hn)
            after.append("\tif (%s)\n\t\t*%s = wrap_%s_inout_from_lower(*%s, l_%s);" %
                         (x, x, hk, x, hn))
    for hn, hk, hd, ln_expr, t, i, x in arrays:
        if ln_expr == "?":
            if hk == "datatype" and hn in ("sendtypes", "recvtypes") and comm_l:
                n = "wrap_vh_w_count(WRAP_IDX_%s, %d, %s, %s)" % (
                    e["name"], hn == "recvtypes", comm_l, arg("sendbuf"))
            else:
                n = "-1L"
        else:
            n = "(long)(%s)" % arg(ln_expr)
        if hd == "in":
            before.append("\t%s lb_%s[WRAP_VH_STACK];" % (t, hn))
            before.append("\t%s *l_%s = wrap_%s_array_to_lower(%s, %s, lb_%s);" %
                          (t, hn, hk, x, n, hn))
            call_args[i] = "l_" + hn
            frees.append("\twrap_vh_array_done(l_%s, lb_%s, %s);" % (hn, hn, x))
        elif hd == "out":
            ok = "if (r_ == MPI_SUCCESS)\n\t\t" if e["ret"] == "int" else ""
            after.append("\t%swrap_%s_array_from_lower(%s, %s);" % (ok, hk, x, n))
        else:
            before.append("\t%s lb_%s[WRAP_VH_STACK];" % (t, hn))
            before.append("\t%s *l_%s = wrap_%s_array_inout_to_lower(%s, %s, lb_%s);" %
                          (t, hn, hk, x, n, hn))
            call_args[i] = "l_" + hn
            after.append("\twrap_%s_array_inout_from_lower(%s, l_%s, %s, lb_%s);" %
                         (hk, x, hn, n, hn))
    return before, call_args, frees + after


def request_out(e):
    """Name of the scalar request output of e, or None."""
    for hn, hk, hd, ln_expr in e["handles"]:
        if hk == "request" and hd == "out" and ln_expr is None:
            return hn
    return None


def gen_origin(e, req):
    """The static origin of the requests e makes (and, when replayable, its argument struct and
    replay function). Returns (lines, C expression of the argument copy or NULL)."""
    name = e["name"]
    out = []
    if not REPLAY.search(name):
        out.append("static const struct wrap_vh_origin wrap_vh_org_%s = {WRAP_IDX_%s, 0, 0, "
                   "NULL, NULL, 0};" % (name, name))
        return out, None
    members = []
    for p in split_top(e["params"]):
        decl, nm = c_decl_name(p)
        if nm != req:
            members.append((decl, nm))
    out.append("struct wrap_vh_args_%s {" % name)
    for decl, nm in members:
        out.append("\t%s;" % decl)
    out.append("};")
    hmap = [(hn, hk) for hn, hk, hd, ln in e["handles"]
            if hd == "in" and ln is None and hk in ("comm", "datatype", "op", "info")]
    out.append("static const struct wrap_vh_argref wrap_vh_refs_%s[] = {" % name)
    for hn, hk in hmap:
        out.append("\t{offsetof(struct wrap_vh_args_%s, %s), WRAP_VH_%s}," % (name, hn,
                                                                           hk.upper()))
    out.append("\t{0, 0}};")
    # replay: the lower call again, arguments from the copy, translated now
    out.append("static int wrap_vh_replay_%s(const void *blob, MPI_Request *real)" % name)
    out.append("{")
    out.append("\tconst struct wrap_vh_args_%s *a_ = blob;" % name)
    out.append("\tvoid *f_ = wrap_lower_fn(WRAP_IDX_%s);" % name)
    out.append("\tif (f_ == NULL)")
    out.append("\t\treturn wrap_unavailable(WRAP_IDX_%s);" % name)
    arg = lambda a: "real" if a == req else "a_->" + a
    before, call_args, after = translate(e, arg, req)
    out += before
    out.append("\tuint64_t g_ = wrap_gate_enter();")
    out.append("\tint r_ = ((__typeof__(&P%s))f_)(%s);" % (name, ", ".join(call_args)))
    out.append("\twrap_gate_leave(g_);")
    out += after
    out.append("\treturn r_;")
    out.append("}")
    persistent = 1 if re.search(r"_init(_c)?$", name) else 0
    out.append("static const struct wrap_vh_origin wrap_vh_org_%s = {WRAP_IDX_%s, %d, "
               "sizeof(struct wrap_vh_args_%s), wrap_vh_replay_%s, wrap_vh_refs_%s, %d};" %
               (name, name, persistent, name, name, name, len(hmap)))
    args = ", ".join(nm for _, nm in members)
    return out, "&(struct wrap_vh_args_%s){%s}" % (name, args)


def split_top(params):
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
    if cur.strip() and cur.strip() != "void":
        out.append(cur.strip())
    return out


def gen_one(e):
    strong, weak = public_names(e["name"])
    idx = "WRAP_IDX_" + e["name"]
    ret = e["ret"]
    out = []
    if e["kind"] == "UNSUP":
        out.append("WRAP_EXPORT %s %s(%s)" % (ret, strong, e["params"]))
        out.append("{")
        if ret == "void":
            out.append("\twrap_unsupported(%s);" % idx)
        else:
            out.append("\treturn %s;" % error_value(ret, idx).replace(
                "wrap_unavailable", "wrap_unsupported"))
        out.append("}")
        if weak:
            out.append("WRAP_ALIAS(%s, %s)" % (strong, weak))
        return out
    req = request_out(e)
    blob = None
    if req:
        org, blob = gen_origin(e, req)
        out += org
    if e["name"] in HOOKS:
        out.append("void wrap_hook_%s(%s r_, %s) WRAP_HIDDEN;" % (e["name"], ret, e["params"]))
    out.append("WRAP_EXPORT %s %s(%s)" % (ret, strong, e["params"]))
    out.append("{")
    # The door comes first: a thread may wait there across a restart, after which the lower
    # function (and every lower handle) is another one; so f_ is looked up after the door.
    kind, cm = door_kind(e)
    if e["name"] in DOOR_SPECIAL:
        out.append("\twrap_door_t d_ = %s;" % DOOR_SPECIAL[e["name"]])
    elif e["name"] in ("MPI_Start", "MPI_Startall"):
        # a persistent collective among the requests makes it a collective (wrap_seq.c)
        n = "1" if e["name"] == "MPI_Start" else "count"
        rq = "request" if e["name"] == "MPI_Start" else "array_of_requests"
        out.append("\tint dc_ = 0;")
        out.append("\tint dk_ = wrap_seq_start_kind(%s, %s, &dc_);" % (rq, n))
        out.append("\twrap_door_t d_ = wrap_door_enter(dk_, dc_);")
        out.append("\twrap_seq_start_more(%s, %s);" % (rq, n))
    elif obj_collective(e):
        out.append("\twrap_door_t d_ = wrap_door_enter_seq(WRAP_DOOR_COLL, %s);" %
                   obj_collective(e))
    else:
        out.append("\twrap_door_t d_ = wrap_door_enter(%s, %s);" % (kind, cm or "0"))
    out.append("\tvoid *f_ = wrap_lower_fn(%s);" % idx)
    out.append("\tif (__builtin_expect(f_ == NULL, 0)) {")
    out.append("\t\twrap_door_leave(d_);")
    if ret == "void":
        out.append("\t\twrap_unavailable(%s);\n\t\treturn;" % idx)
    else:
        out.append("\t\treturn %s;" % error_value(ret, idx))
    out.append("\t}")
    child = comm_out(e) if kind == "WRAP_DOOR_COLL" and e["name"] not in GID_MEMBERS else None
    objout = obj_out(e) if kind == "WRAP_DOOR_COLL" and cm else None
    if child or objout:
        out.append("\tstruct wrap_seq *ps_ = wrap_seq_of(%s);" % cm)
        out.append("\tuint64_t pq_ = ps_->seq;")
    before, call_args, after = translate(e, lambda a: a, req)
    out += before
    call = "((__typeof__(&%s))f_)(%s)" % (strong, ", ".join(call_args))
    if e["name"] in STEPLESS:
        out.append("\twrap_ckpt_inside_add(%s, 1);" % idx)
    out.append("\tuint64_t g_ = wrap_gate_enter();")
    if ret == "void":
        out.append("\t%s;" % call)
    else:
        out.append("\t%s r_ = %s;" % (ret, call))
    out.append("\twrap_gate_leave(g_);")
    if e["name"] in STEPLESS:
        out.append("\twrap_ckpt_inside_add(%s, -1);" % idx)
    out += after
    if req:
        out.append("\tif (r_ == MPI_SUCCESS && %s)\n\t\t*%s = wrap_vh_request_new(*%s, "
                   "&wrap_vh_org_%s, %s);" % (req, req, req, e["name"], blob or "NULL"))
    for hn, hk, hd, ln_expr in e["handles"]:
        if hn == "return":
            out.append("\tr_ = wrap_%s_from_lower(r_);" % hk)
    if e["name"] in HOOKS:
        out.append("\twrap_hook_%s(r_, %s);" % (e["name"], ", ".join(e["args"])))
    if child:
        out.append("\tif (r_ == MPI_SUCCESS && %s)\n\t\twrap_seq_child(ps_, pq_, *%s, %d);" %
                   (child, child, 0 if e["name"] in GID_NO_MEMBERS else 1))
    if objout:
        hn, hk = objout
        v = "(int64_t)(uintptr_t)*%s" % hn if hk == "file" else "*%s" % hn
        out.append("\tif (r_ == MPI_SUCCESS && %s)\n\t\twrap_seq_child_obj(ps_, pq_, "
                   "WRAP_VH_%s, %s);" % (hn, hk.upper(), v))
    out.append("\twrap_door_leave(d_);")
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


def list_collectives(entries):
    """--list-coll: every collective entry point (GEN or HAND), then the counts."""
    colls = [e for e in entries if e["kind"] in ("GEN", "HAND") and is_collective(e["name"])]
    for e in colls:
        print("%s %s %s%s" % (e["name"], e["kind"], comm_arg(e),
                              " -> " + comm_out(e) if comm_out(e) else ""))
    ctors = sum(1 for e in colls if e["name"] in CTORS)
    p2p = sum(1 for e in entries if e["kind"] == "GEN" and P2P.match(e["name"]) and
              not is_collective(e["name"]))
    print("collectives %d (constructors over a parent %d), point-to-point %d" %
          (len(colls), ctors, p2p))
    return len(colls)


def main():
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--list-coll":
        n = list_collectives(parse(sys.argv[2]))
        if len(sys.argv) == 4 and n != int(sys.argv[3]):
            sys.exit("FAIL: %d collective entry points, expected %s" % (n, sys.argv[3]))
        return
    if len(sys.argv) != 4:
        sys.exit("usage: gen_wrappers.py mpi_functions.def OUT.c OUT_HOOKS.h\n"
                 "       gen_wrappers.py --list-coll mpi_functions.def [EXPECTED_COUNT]")
    entries = parse(sys.argv[1])
    lines = [
        "/* wrap_generated.c - DO NOT EDIT: written by mpi-wrappers/gen_wrappers.py from",
        " * mpi-wrappers/mpi_functions.def. Every GEN entry: handles translated, call gate, lower",
        " * MPICH function from the contract; every UNSUP entry: a clear refusal. */",
        '#include "wrap.h"',
        '#include "wrap_door.h"',
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
    colls = [e["name"] for e in entries if e["kind"] in ("GEN", "HAND") and
             is_collective(e["name"])]
    lines.append("")
    lines.append("/* the %d collective entry points (gen_wrappers.py --list-coll) */" % len(colls))
    lines.append("const unsigned char wrap_seq_coll_fn[WRAP_NFUNCS] = {")
    lines += ["\t[WRAP_IDX_%s] = 1," % c for c in colls]
    lines.append("};")
    hooks = ["/* wrap_hooks.h - DO NOT EDIT: written by mpi-wrappers/gen_wrappers.py. The hooks",
             " * that generated wrappers call after the lower call (see HOOKS there); each is",
             " * defined by hand in a wrap_vh_*.c file, which includes this header. */",
             "#ifndef SPLITCKPT_WRAP_HOOKS_H", "#define SPLITCKPT_WRAP_HOOKS_H", ""]
    names = {e["name"]: e for e in entries}
    for h in sorted(HOOKS):
        if h not in names or names[h]["kind"] != "GEN":
            sys.exit("hook %s: no GEN entry of that name" % h)
        e = names[h]
        hooks.append("void wrap_hook_%s(%s r_, %s) WRAP_HIDDEN;" % (h, e["ret"], e["params"]))
    hooks += ["", "#endif"]
    import os
    for path, text in ((sys.argv[2], lines), (sys.argv[3], hooks)):
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(text) + "\n")
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
