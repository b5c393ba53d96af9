package proc

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// credential resolves a user and a group, each by name or number, into the
// credentials a child is started with. A number with no passwd/group entry
// is used as it is. It returns nil when they equal dewy's own (no switch is
// needed, and a non-root dewy could not call setgroups).
func credential(userSpec, groupSpec string) (*syscall.Credential, error) {
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	var groups []uint32
	if userSpec != "" {
		u, err := lookupUser(userSpec)
		if err != nil {
			return nil, err
		}
		uid = u.uid
		gid = u.gid
		groups = u.groups
	}
	if groupSpec != "" {
		g, err := lookupGroup(groupSpec)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	if uid == uint32(os.Geteuid()) && gid == uint32(os.Getegid()) && userSpec == "" {
		return nil, nil
	}
	if os.Geteuid() != 0 && (uid != uint32(os.Geteuid()) || gid != uint32(os.Getegid())) {
		return nil, fmt.Errorf("user %q group %q: dewy runs as uid %d, not root, and cannot switch to uid %d gid %d", userSpec, groupSpec, os.Geteuid(), uid, gid)
	}
	c := &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}
	if os.Geteuid() != 0 {
		c.NoSetGroups = true
	}
	return c, nil
}

type userIDs struct {
	uid, gid uint32
	groups   []uint32
}

func lookupUser(spec string) (userIDs, error) {
	u, err := user.Lookup(spec)
	if err != nil {
		if n, nerr := strconv.ParseUint(spec, 10, 32); nerr == nil {
			u, err = user.LookupId(spec)
			if err != nil {
				// A bare uid without a passwd entry: keep dewy's gid
				// unless a group is given.
				return userIDs{uid: uint32(n), gid: uint32(os.Getegid())}, nil
			}
		} else {
			return userIDs{}, fmt.Errorf("user %q: %w", spec, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return userIDs{}, fmt.Errorf("user %q: uid %q: %w", spec, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return userIDs{}, fmt.Errorf("user %q: gid %q: %w", spec, u.Gid, err)
	}
	ids := userIDs{uid: uint32(uid), gid: uint32(gid)}
	gs, err := u.GroupIds()
	if err == nil {
		for _, g := range gs {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				ids.groups = append(ids.groups, uint32(n))
			}
		}
	}
	return ids, nil
}

func lookupGroup(spec string) (uint32, error) {
	g, err := user.LookupGroup(spec)
	if err != nil {
		if n, nerr := strconv.ParseUint(spec, 10, 32); nerr == nil {
			if g, err = user.LookupGroupId(spec); err != nil {
				return uint32(n), nil
			}
		} else {
			return 0, fmt.Errorf("group %q: %w", spec, err)
		}
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q: gid %q: %w", spec, g.Gid, err)
	}
	return uint32(n), nil
}
