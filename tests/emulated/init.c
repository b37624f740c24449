/* /init of the emulated machine (run.sh): makes the AVX-512 state usable, runs each test program it
 * finds, reports every exit status on the serial console, then powers the machine off. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Arguments for the kernel tests, one per line in /args (a Catch2 test spec from run.sh), if any. */
static char args_text[4096];
static char *args[64];

static void read_args(void) {
  FILE *f = fopen("/args", "r");
  if (!f) return;
  const size_t n = fread(args_text, 1, sizeof args_text - 1, f);
  fclose(f);
  args_text[n] = 0;
  unsigned count = 0;
  for (char *line = strtok(args_text, "\n"); line && count + 1 < sizeof args / sizeof args[0]; line = strtok(NULL, "\n"))
    args[count++] = line;
}

static int run(const char *path, int with_args) {
  char *argv[4 + sizeof args / sizeof args[0]] = {(char *)path, "--durations", "yes"};
  for (unsigned i = 0; with_args && args[i]; ++i) argv[3 + i] = args[i];
  const pid_t pid = fork();
  if (pid == 0) {
    execv(path, argv);
    perror(path);
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) < 0) return 126;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void) {
  mount("proc", "/proc", "proc", 0, NULL);
  setenv("VTR_GOLDEN_DIR", "/golden", 1); /* the golden cases the kernel tests read (run.sh copies them) */
  read_args();
  /* The kernel turns XSAVE off on the emulator (its XSAVE layout fails the kernel's checks); the module
   * turns the AVX and AVX-512 register state back on, which the tests check with CPUID and XGETBV. */
  const int fd = open("/vtr_xcr0.ko", O_RDONLY);
  const long loaded = fd < 0 ? -1 : syscall(SYS_finit_module, fd, "", 0);
  printf("VTR-MODULE %s\n", loaded == 0 ? "loaded" : "failed");
  fflush(stdout);
  static const char *const tests[] = {"/test_kernels_avx512", "/test_dispatch"};
  for (unsigned i = 0; i < sizeof tests / sizeof tests[0]; ++i) {
    if (access(tests[i], X_OK) != 0) continue;
    const int rc = run(tests[i], i == 0);
    printf("VTR-RESULT %s %d\n", tests[i] + 1, rc);
    fflush(stdout);
  }
  printf("VTR-DONE\n");
  fflush(stdout);
  /* The console's queue drains at the emulated UART's pace; powering off before it is empty loses the
   * end of the log (the kernel's last message goes out first). */
  tcdrain(STDOUT_FILENO);
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}
