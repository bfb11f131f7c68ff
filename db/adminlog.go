package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AdminLogEntry is one admin action (product.md §13): who, when, on whom.
// The names are as they were at the time; an id is 0 once its account is
// deleted.
type AdminLogEntry struct {
	ID         int64
	At         time.Time
	ActorID    int64
	ActorName  string
	TargetID   int64
	TargetName string
	Action     string
	Detail     string
	IP         string
}

type adminLogRow struct {
	ID         int64         `db:"id"`
	At         int64         `db:"at"`
	ActorID    sql.NullInt64 `db:"actor_id"`
	ActorName  string        `db:"actor_name"`
	TargetID   sql.NullInt64 `db:"target_id"`
	TargetName string        `db:"target_name"`
	Action     string        `db:"action"`
	Detail     string        `db:"detail"`
	IP         string        `db:"ip"`
}

func (r adminLogRow) entry() AdminLogEntry {
	return AdminLogEntry{
		ID: r.ID, At: time.Unix(r.At, 0).UTC(),
		ActorID: r.ActorID.Int64, ActorName: r.ActorName,
		TargetID: r.TargetID.Int64, TargetName: r.TargetName,
		Action: r.Action, Detail: r.Detail, IP: r.IP,
	}
}

// nullID stores an id of 0 as NULL (no account).
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// AddAdminLog records an admin action.
func (s *Store) AddAdminLog(ctx context.Context, e AdminLogEntry) error {
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO admin_log (at, actor_id, actor_name, target_id, target_name, action, detail, ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.At.Unix(), nullID(e.ActorID), e.ActorName, nullID(e.TargetID), e.TargetName, e.Action, e.Detail, e.IP)
	if err != nil {
		return fmt.Errorf("db: add admin log: %w", err)
	}
	return nil
}

// AdminLog returns up to limit admin actions, newest first, skipping
// offset.
func (s *Store) AdminLog(ctx context.Context, limit, offset int) ([]AdminLogEntry, error) {
	var rows []adminLogRow
	err := s.read.SelectContext(ctx, &rows, `
		SELECT id, at, actor_id, actor_name, target_id, target_name, action, detail, ip
		FROM admin_log
		ORDER BY at DESC, id DESC
		LIMIT ? OFFSET ?`, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("db: read admin log: %w", err)
	}
	out := make([]AdminLogEntry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, nil
}
