! stencil.f90 - Fortran (use mpi) 1-D stencil for MPI checkpoint/restart (issue 4, test 5).
!
!   stencil STEPS [SLEEP_MS]        (defaults 300, 20)
!
! 4096 cells per rank of 64-bit integers, periodic over all ranks; every step the halos go
! around with MPI_Sendrecv (each with a check word the receiver verifies), then
! new(i) = mod(3*u(i) + u(i-1) + u(i+1) + step, 2**40 - 87); every 10 steps the global sum is
! reduced and folded into the answer. Prints PID/READY per rank, then on rank 0
! "ANSWER: stencil <hex>" and PASS or FAIL (the verdict reduced over all ranks).
! The pause per step follows tests/progs/cr_go.h: with CR_GO set (mpi_cr.sh), no pause once
! that file exists, and before the last quarter of the steps a wait until it exists.
program stencil
  use mpi
  implicit none
  integer, parameter :: n = 4096
  integer(kind=8), parameter :: m = 2_8**40 - 87
  integer(kind=8) :: u(0:n+1), v(0:n+1), sendl(2), sendr(2), recvl(2), recvr(2)
  integer(kind=8) :: total, allsum, answer
  integer(kind=8) :: bad, anybad
  integer :: ierr, rank, nprocs, left, right, s, i, steps, sleepms, req
  integer :: stat(MPI_STATUS_SIZE)
  character(len=32) :: arg

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs, ierr)
  steps = 300
  sleepms = 20
  if (command_argument_count() >= 1) then
    call get_command_argument(1, arg)
    read (arg, *) steps
  end if
  if (command_argument_count() >= 2) then
    call get_command_argument(2, arg)
    read (arg, *) sleepms
  end if
  left = mod(rank - 1 + nprocs, nprocs)
  right = mod(rank + 1, nprocs)
  do i = 1, n
    u(i) = mod(int(rank, 8) * 7919_8 * n + int(i, 8) * 104729_8, m)
  end do
  bad = 0
  answer = 1469598103934665603_8
  write (*, '(A,I0,A,I0)') 'PID ', rank, ' ', getpid()
  write (*, '(A)') 'READY'
  flush (6)
  do s = 1, steps
    sendl = (/ u(1), mod(u(1) * 31_8 + s, m) /)
    sendr = (/ u(n), mod(u(n) * 37_8 + s, m) /)
    call MPI_Sendrecv(sendl, 2, MPI_INTEGER8, left, s, recvr, 2, MPI_INTEGER8, right, s, &
                      MPI_COMM_WORLD, stat, ierr)
    call MPI_Sendrecv(sendr, 2, MPI_INTEGER8, right, s + 100000, recvl, 2, MPI_INTEGER8, left, &
                      s + 100000, MPI_COMM_WORLD, stat, ierr)
    if (recvr(2) /= mod(recvr(1) * 31_8 + s, m) .or. recvl(2) /= mod(recvl(1) * 37_8 + s, m)) then
      if (bad < 5) write (*, '(A,I0,A,I0)') 'FAIL rank ', rank, ': halo check word, step ', s
      bad = bad + 1
    end if
    u(0) = recvl(1)
    u(n + 1) = recvr(1)
    do i = 1, n
      v(i) = mod(3_8 * u(i) + u(i - 1) + u(i + 1) + s, m)
    end do
    u(1:n) = v(1:n)
    if (mod(s, 10) == 0) then
      total = 0
      do i = 1, n
        total = mod(total + u(i), m)
      end do
      call MPI_Allreduce(total, allsum, 1, MPI_INTEGER8, MPI_SUM, MPI_COMM_WORLD, ierr)
      answer = ieor(answer * 1099511628211_8, allsum)
    end if
    if (s >= steps - steps / 4) call wait_go()
    if (sleepms > 0 .and. .not. go()) call msleep(sleepms)
  end do
  ! one message with every peer before MPI_Finalize (UCX tcp, see ecr.h)
  do i = 1, nprocs - 1
    call MPI_Isend(rank, 1, MPI_INTEGER, mod(rank + i, nprocs), 999, MPI_COMM_WORLD, req, ierr)
    call MPI_Recv(s, 1, MPI_INTEGER, mod(rank - i + nprocs, nprocs), 999, MPI_COMM_WORLD, stat, ierr)
    call MPI_Wait(req, stat, ierr)
  end do
  call MPI_Allreduce(bad, anybad, 1, MPI_INTEGER8, MPI_MAX, MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    write (*, '(A,Z16.16)') 'ANSWER: stencil ', answer
    if (anybad == 0) then
      write (*, '(A)') 'PASS'
    else
      write (*, '(A)') 'FAIL'
    end if
  end if
  call MPI_Finalize(ierr)
  if (anybad /= 0) call exit(1)
contains
  ! true iff CR_GO names a file that exists (tests/progs/cr_go.h)
  logical function go()
    character(len=4096) :: path
    integer :: length, st
    go = .false.
    call get_environment_variable('CR_GO', path, length, st)
    if (st /= 0 .or. length == 0) return
    inquire (file=path(1:length), exist=go)
  end function go
  ! with CR_GO set, wait (20 ms naps) until its file exists
  subroutine wait_go()
    character(len=4096) :: path
    integer :: length, st
    call get_environment_variable('CR_GO', path, length, st)
    if (st /= 0 .or. length == 0) return
    do while (.not. go())
      call msleep(20)
    end do
  end subroutine wait_go
  subroutine msleep(ms)
    integer, intent(in) :: ms
    integer(kind=8) :: t0, t1, rate
    ! sleep with the C library (restarted after a signal): call usleep in a loop of 1 ms
    interface
      integer(c_int) function usleep(us) bind(c, name='usleep')
        use iso_c_binding, only: c_int
        integer(c_int), value :: us
      end function usleep
    end interface
    call system_clock(t0, rate)
    do
      ierr = usleep(1000)
      call system_clock(t1)
      if ((t1 - t0) * 1000 >= ms * rate) exit
    end do
  end subroutine msleep
end program stencil
