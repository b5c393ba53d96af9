package procfs

import (
	"os"
	"os/exec"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Stat
		bad  bool
	}{
		{in: "42 (sleep) S 1 42 42 0 -1", want: Stat{PID: 42, PPID: 1, PGRP: 42, State: 'S'}},
		{in: "7 (a (weird) name) Z 3 5 5", want: Stat{PID: 7, PPID: 3, PGRP: 5, State: 'Z'}},
		{in: "7 no parens", bad: true},
		{in: "7 (x) S", bad: true},
		{in: "7 (x) S one 2", bad: true},
	}
	for _, tt := range tests {
		pid := tt.want.PID
		if pid == 0 {
			pid = 7
		}
		got, err := parse(pid, []byte(tt.in))
		if (err != nil) != tt.bad {
			t.Errorf("%q: err %v, bad %v", tt.in, err, tt.bad)
			continue
		}
		if !tt.bad && got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestSelfAndChild(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	live, _ := Children(os.Getpid())
	if live < 1 {
		t.Errorf("no live child seen")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if Alive(cmd.Process.Pid) {
		t.Errorf("reaped child still alive")
	}
	if FDCount(os.Getpid()) < 3 {
		t.Errorf("FDCount too small")
	}
}
