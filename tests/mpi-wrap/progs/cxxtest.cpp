// cxxtest.cpp - C++ through Debian's libmpichcxx over the upper half's libmpich.so.12: the C
// API from C++, and the MPI-2 C++ bindings whose callbacks go through MPII_Op_set_cxx,
// MPII_Keyval_set_proxy and MPII_Errhandler_set_cxx.
#include <mpi.h>

#include <cstdio>
#include <vector>

static int ok = 1;
static int cxx_copies, cxx_deletes, cxx_errh;
static thread_local int tls_marker;

#define CHECK(c, what)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			std::fprintf(stderr, "FAIL rank %d: %s\n", MPI::COMM_WORLD.Get_rank(),     \
				     what);                                                        \
			ok = 0;                                                                    \
		}                                                                                  \
	} while (0)

static void cxx_max(const void *in, void *inout, int len, const MPI::Datatype &dt)
{
	CHECK(tls_marker == 77, "C++ user op on the lower half's TLS");
	CHECK(dt == MPI::INT, "C++ user op datatype");
	const int *a = static_cast<const int *>(in);
	int *b = static_cast<int *>(inout);
	for (int i = 0; i < len; i++)
		b[i] = a[i] > b[i] ? a[i] : b[i];
}

static int cxx_copy(const MPI::Comm &, int, void *, void *in, void *out, bool &flag)
{
	CHECK(tls_marker == 77, "C++ copy callback on the lower half's TLS");
	cxx_copies++;
	*static_cast<void **>(out) = in;
	flag = true;
	return MPI::SUCCESS;
}

static int cxx_delete(MPI::Comm &, int, void *, void *)
{
	cxx_deletes++;
	return MPI::SUCCESS;
}

static void cxx_errhandler(MPI::Comm &comm, int *code, ...)
{
	CHECK(tls_marker == 77, "C++ error handler on the lower half's TLS");
	CHECK(comm.Get_size() == MPI::COMM_WORLD.Get_size(), "C++ error handler comm");
	cxx_errh = *code;
}

int main(int argc, char **argv)
{
	tls_marker = 77;
	MPI::Init(argc, argv);
	int rank = MPI::COMM_WORLD.Get_rank(), size = MPI::COMM_WORLD.Get_size();

	// C API from C++
	std::vector<int> v(size), all(size);
	for (int i = 0; i < size; i++)
		v[i] = rank * size + i;
	MPI_Alltoall(v.data(), 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD);
	for (int i = 0; i < size; i++)
		CHECK(all[i] == i * size + rank, "Alltoall");

	// C++ bindings: user op
	MPI::Op op;
	op.Init(cxx_max, true);
	int mine[2] = {rank, -rank}, mx[2] = {0, 0};
	MPI::COMM_WORLD.Allreduce(mine, mx, 2, MPI::INT, op);
	CHECK(mx[0] == size - 1 && mx[1] == 0, "C++ user op result");
	op.Free();

	// C++ bindings: keyval with C++ callbacks
	int kv = MPI::Comm::Create_keyval(cxx_copy, cxx_delete, nullptr);
	MPI::COMM_WORLD.Set_attr(kv, reinterpret_cast<void *>(0x42));
	MPI::Intracomm d = MPI::COMM_WORLD.Dup();
	void *val = nullptr;
	bool found = d.Get_attr(kv, &val);
	CHECK(found && val == reinterpret_cast<void *>(0x42) && cxx_copies == 1,
	      "C++ attribute copy");
	d.Free();
	CHECK(cxx_deletes == 1, "C++ attribute delete");
	MPI::COMM_WORLD.Delete_attr(kv);
	MPI::Comm::Free_keyval(kv);

	// C++ bindings: error handler
	MPI::Intracomm d2 = MPI::COMM_WORLD.Dup();
	MPI::Errhandler eh = MPI::Comm::Create_errhandler(cxx_errhandler);
	d2.Set_errhandler(eh);
	d2.Call_errhandler(MPI::ERR_OTHER);
	CHECK(cxx_errh == MPI::ERR_OTHER, "C++ error handler not called");
	eh.Free();
	d2.Free();

	int allok = 0;
	MPI::COMM_WORLD.Allreduce(&ok, &allok, 1, MPI::INT, MPI::MIN);
	if (rank == 0)
		std::printf("%s c++\n", allok ? "PASS" : "FAIL");
	std::fflush(stdout);
	MPI::Finalize();
	return allok ? 0 : 1;
}
