! ftest.f90 - Fortran through Debian's libmpichfort over the upper half's libmpich.so.12:
! use mpi, ring send/recv, Allreduce with a predefined and a user op (a Fortran function
! called back by the lower MPICH), Comm_split, a keyval whose Fortran copy/delete functions
! run when a communicator is duplicated and freed (MPII_Keyval_set_proxy), MPI_Wtime, a
! window of MPI_Win_allocate: a Put into it and its MPI_WIN_CREATE_FLAVOR (MPII_Win_get_attr).
module ftest_cb
  use mpi
  implicit none
  integer :: ncopy = 0, ndelete = 0
contains
  subroutine isum(invec, inoutvec, n, dtype)
    integer :: n, dtype
    integer :: invec(n), inoutvec(n)
    integer :: i
    do i = 1, n
      inoutvec(i) = inoutvec(i) + invec(i)
    end do
  end subroutine isum

  subroutine copy_fn(oldcomm, keyval, extra, val_in, val_out, flag, ierr)
    integer :: oldcomm, keyval, ierr
    integer(kind=MPI_ADDRESS_KIND) :: extra, val_in, val_out
    logical :: flag
    ncopy = ncopy + 1
    val_out = val_in + extra
    flag = .true.
    ierr = MPI_SUCCESS
  end subroutine copy_fn

  subroutine delete_fn(comm, keyval, val, extra, ierr)
    integer :: comm, keyval, ierr
    integer(kind=MPI_ADDRESS_KIND) :: val, extra
    ndelete = ndelete + 1
    ierr = MPI_SUCCESS
  end subroutine delete_fn
end module ftest_cb

program ftest
  use mpi
  use iso_c_binding
  use ftest_cb
  implicit none
  integer :: win
  integer(kind=MPI_ADDRESS_KIND) :: wsize, disp
  type(c_ptr) :: wbase
  integer, pointer :: wmem(:)
  integer :: ierr, rank, nprocs, left, right, s, v, op, half, hsize, keyval, dup, i
  integer :: status(MPI_STATUS_SIZE), arr(3), res(3)
  integer(kind=MPI_ADDRESS_KIND) :: val, extra
  logical :: ok, allok, flag
  double precision :: t0, t1

  ok = .true.
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs, ierr)
  right = mod(rank + 1, nprocs)
  left = mod(rank + nprocs - 1, nprocs)

  ! ring
  v = -1
  call MPI_Sendrecv(rank, 1, MPI_INTEGER, right, 1, v, 1, MPI_INTEGER, left, 1, &
                    MPI_COMM_WORLD, status, ierr)
  if (ierr /= MPI_SUCCESS .or. v /= left .or. status(MPI_SOURCE) /= left) then
    print *, 'FAIL rank', rank, 'sendrecv', v
    ok = .false.
  end if

  ! predefined op
  call MPI_Allreduce(rank, s, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (s /= nprocs * (nprocs - 1) / 2) then
    print *, 'FAIL rank', rank, 'allreduce', s
    ok = .false.
  end if

  ! user op written in Fortran
  call MPI_Op_create(isum, .true., op, ierr)
  arr = (/ rank, 1, 2 * rank /)
  call MPI_Allreduce(arr, res, 3, MPI_INTEGER, op, MPI_COMM_WORLD, ierr)
  if (ierr /= MPI_SUCCESS .or. res(1) /= s .or. res(2) /= nprocs .or. res(3) /= 2 * s) then
    print *, 'FAIL rank', rank, 'user op', res
    ok = .false.
  end if
  call MPI_Op_free(op, ierr)

  ! split
  call MPI_Comm_split(MPI_COMM_WORLD, mod(rank, 2), rank, half, ierr)
  call MPI_Comm_size(half, hsize, ierr)
  if (hsize /= (nprocs + 1 - mod(rank, 2)) / 2) then
    print *, 'FAIL rank', rank, 'split size', hsize
    ok = .false.
  end if

  ! keyval with Fortran callbacks
  extra = 5
  call MPI_Comm_create_keyval(copy_fn, delete_fn, keyval, extra, ierr)
  val = 100
  call MPI_Comm_set_attr(half, keyval, val, ierr)
  call MPI_Comm_dup(half, dup, ierr)
  call MPI_Comm_get_attr(dup, keyval, val, flag, ierr)
  if (.not. flag .or. val /= 105 .or. ncopy /= 1) then
    print *, 'FAIL rank', rank, 'attribute copy', flag, val, ncopy
    ok = .false.
  end if
  call MPI_Comm_free(dup, ierr)
  if (ndelete /= 1) then
    print *, 'FAIL rank', rank, 'attribute delete', ndelete
    ok = .false.
  end if
  call MPI_Comm_free(half, ierr)
  call MPI_Comm_free_keyval(keyval, ierr)

  ! a window MPI allocates: Put into the right neighbour, then its flavor
  wsize = 16
  call MPI_Win_allocate(wsize, 4, MPI_INFO_NULL, MPI_COMM_WORLD, wbase, win, ierr)
  call c_f_pointer(wbase, wmem, (/ 4 /))
  wmem = -1
  disp = 2
  call MPI_Win_fence(0, win, ierr)
  call MPI_Put(rank, 1, MPI_INTEGER, right, disp, 1, MPI_INTEGER, win, ierr)
  call MPI_Win_fence(0, win, ierr)
  if (wmem(3) /= left .or. wmem(1) /= -1) then
    print *, 'FAIL rank', rank, 'Put into MPI_Win_allocate memory', wmem
    ok = .false.
  end if
  call MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, val, flag, ierr)
  if (.not. flag .or. val /= MPI_WIN_FLAVOR_ALLOCATE) then
    print *, 'FAIL rank', rank, 'MPI_WIN_CREATE_FLAVOR', flag, val
    ok = .false.
  end if
  call MPI_Win_free(win, ierr)

  t0 = MPI_Wtime()
  do i = 1, 100
    call MPI_Barrier(MPI_COMM_WORLD, ierr)
  end do
  t1 = MPI_Wtime()
  if (t1 < t0) then
    print *, 'FAIL rank', rank, 'wtime'
    ok = .false.
  end if

  call MPI_Allreduce(ok, allok, 1, MPI_LOGICAL, MPI_LAND, MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    if (allok) then
      print '(a)', 'PASS fortran'
    else
      print '(a)', 'FAIL fortran'
    end if
  end if
  call MPI_Finalize(ierr)
  if (.not. allok) stop 1
end program ftest
