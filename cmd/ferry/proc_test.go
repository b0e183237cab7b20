package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// proc is a ferry process (or one in a network namespace) whose stdout and
// stderr are read line by line as they come, and also kept whole.
type proc struct {
	t        *testing.T
	cmd      *exec.Cmd
	name     string      // for messages: the ferry arguments
	stdout   chan string // lines as they come (a full channel drops them)
	errLines chan string
	done     chan struct{}
	err      error // valid after done

	mu             sync.Mutex
	outLog, errLog strings.Builder // guarded by mu: everything printed
}

// startProc starts ferry with args on this machine.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(ferryBin, args...)
	return startCmd(t, cmd, args, cmd.Start)
}

// startCmd starts cmd, a ferry with args, by start (cmd.Start, or a
// namespace's Start) and reads its output. The process is killed at the
// end of the test if still running.
func startCmd(t *testing.T, cmd *exec.Cmd, args []string, start func() error) *proc {
	t.Helper()
	cmd.Env = withoutEmpty(append(os.Environ(), "FERRY_HOME=", "FERRY_PASSWORD="))
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, name: strings.Join(args, " "), stdout: make(chan string, 4096),
		errLines: make(chan string, 4096), done: make(chan struct{})}
	if err := start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	read := func(r io.Reader, ch chan string, log *strings.Builder) {
		defer wg.Done()
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case ch <- sc.Text():
			default:
			}
		}
	}
	wg.Add(2)
	go read(outPipe, p.stdout, &p.outLog)
	go read(errPipe, p.errLines, &p.errLog)
	go func() {
		wg.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill9)
	return p
}

// line returns the first line of ch for which match is true; false when
// the process ends or timeout passes first.
func (p *proc) line(ch chan string, match func(string) bool, timeout time.Duration) (string, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				return "", false
			}
			if match(l) {
				return l, true
			}
		case <-deadline:
			return "", false
		}
	}
}

// waitLine returns the first stdout line for which match is true, and
// fails the test if none comes.
func (p *proc) waitLine(match func(string) bool, timeout time.Duration) string {
	p.t.Helper()
	l, ok := p.line(p.stdout, match, timeout)
	if !ok {
		p.t.Fatalf("ferry %s: no expected line within %s (ended: %v)\nstderr: %s", p.name, timeout, p.ended(), p.errText())
	}
	return l
}

// outText is what the process printed on stdout so far.
func (p *proc) outText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outLog.String()
}

// errText is what the process printed on stderr so far.
func (p *proc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errLog.String()
}

func (p *proc) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end and returns its error.
func (p *proc) wait() error {
	go func() {
		for range p.stdout {
		}
	}()
	go func() {
		for range p.errLines {
		}
	}()
	<-p.done
	return p.err
}

// waitOK waits for exit status 0.
func (p *proc) waitOK(timeout time.Duration) {
	p.t.Helper()
	if code, _, stderr := p.exit(timeout); code != 0 {
		p.t.Fatalf("ferry %s: exit %d\nstderr: %s", p.name, code, stderr)
	}
}

// exit waits for the process to end and returns its exit code and output.
func (p *proc) exit(timeout time.Duration) (int, string, string) {
	p.t.Helper()
	ended := make(chan error, 1)
	go func() { ended <- p.wait() }()
	select {
	case <-ended:
	case <-time.After(timeout):
		p.kill9()
		p.t.Fatalf("ferry %s did not end within %s\nstderr: %s", p.name, timeout, p.errText())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		code = ee.ExitCode()
	} else if p.err != nil {
		p.t.Fatalf("ferry %s: %v", p.name, p.err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return code, p.outLog.String(), p.errLog.String()
}

// kill9 kills the process with SIGKILL, by PID, and waits for it to end.
func (p *proc) kill9() {
	if p.ended() {
		return
	}
	_ = p.cmd.Process.Kill() // SIGKILL to this PID
	_ = p.wait()
}
