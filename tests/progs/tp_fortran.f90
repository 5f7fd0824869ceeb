! tp_fortran.f90 - Fortran checkpoint test: allocatable and static arrays updated in steps.
!
! Usage: tp_fortran [seconds (10)]
! State: a 2-D allocatable array, a module array and a running checksum. Every step applies a
! deterministic stencil update and sleeps 100 ms (usleep through ISO_C_BINDING); at the end
! the arrays are recomputed without sleeping and compared exactly. ANSWER depends only on
! the number of steps. The pause follows cr_go.h: with CR_GO set (the checkpoint drivers), no
! pause once that file exists, and before the last quarter of the steps a wait until it exists.
module tp_state
  implicit none
  integer, parameter :: n = 256
  real(8) :: hist(1000)
end module tp_state

program tp_fortran
  use iso_c_binding
  use tp_state
  implicit none
  interface
    integer(c_int) function usleep(us) bind(C, name='usleep')
      import :: c_int
      integer(c_int), value :: us
    end function usleep
  end interface
  real(8), allocatable :: a(:,:), ref(:,:)
  real(8) :: refhist(1000)
  integer :: steps, s, rc, secs
  character(len=32) :: arg
  logical :: ok

  secs = 10
  if (command_argument_count() >= 1) then
    call get_command_argument(1, arg)
    read(arg, *, iostat=rc) secs
    if (rc /= 0 .or. secs < 0) then
      write(0, '(a)') 'usage: tp_fortran [seconds]'
      stop 2
    end if
  end if
  steps = secs * 10
  allocate(a(n, n), ref(n, n))
  call init(a)
  hist = 0
  print '(a)', 'READY'
  flush(6)
  do s = 1, steps
    call step(a, s)
    hist(mod(s - 1, 1000) + 1) = sum(a)
    if (s >= steps - steps / 4) call wait_go()
    if (.not. go()) rc = usleep(100000_c_int)
  end do

  call init(ref)
  refhist = 0
  do s = 1, steps
    call step(ref, s)
    refhist(mod(s - 1, 1000) + 1) = sum(ref)
  end do
  ok = all(a == ref) .and. all(hist == refhist)
  print '(a, i0, 1x, es24.16e3, 1x, es24.16e3)', 'ANSWER: ', steps, sum(a), sum(hist)
  if (ok) then
    print '(a)', 'PASS'
  else
    print '(a)', 'FAIL: arrays differ from the recomputed ones'
    stop 1
  end if

contains

  subroutine init(x)
    real(8), intent(out) :: x(:,:)
    integer :: i, j
    do j = 1, n
      do i = 1, n
        x(i, j) = real(mod(i * 7 + j * 13, 101), 8) / 101.0d0
      end do
    end do
  end subroutine init

  subroutine step(x, s)
    real(8), intent(inout) :: x(:,:)
    integer, intent(in) :: s
    real(8), allocatable :: t(:,:)
    integer :: i, j
    allocate(t(n, n))
    t = x
    do j = 2, n - 1
      do i = 2, n - 1
        x(i, j) = 0.25d0 * (t(i-1, j) + t(i+1, j) + t(i, j-1) + t(i, j+1)) &
                  + 1.0d-3 * real(mod(s * i + j, 17), 8)
      end do
    end do
  end subroutine step
  ! true iff CR_GO names a file that exists (cr_go.h)
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
      rc = usleep(20000_c_int)
    end do
  end subroutine wait_go
end program tp_fortran
