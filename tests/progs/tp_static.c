/*
 * tp_static.c - a statically linked program (linked with -static by CMake). dmtcp_launch must
 * refuse it with a clear message: the lower half needs the program's own ELF interpreter.
 */
#include <stdio.h>

int main(void)
{
	printf("tp_static ran, which it should not under dmtcp_launch\n");
	return 0;
}
