/*
 * group.c -- the group coordinator: Kafka's classic consumer-group
 * protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), static
 * membership, ListGroups/DescribeGroups, and the coordinator's life cycle
 * (the start-up load, the stop). Committed offsets are group_offsets.c's.
 *
 * A group moves between Kafka's states:
 *
 *   Empty --join--> PreparingRebalance --all joined / timeout-->
 *   CompletingRebalance --leader's SyncGroup stored--> Stable
 *
 * and back to PreparingRebalance when a member joins, leaves, changes its
 * protocols or misses its session timeout. PreparingRebalance waits until
 * every known member has sent JoinGroup again (and no member that was told
 * MEMBER_ID_REQUIRED is still on its way), or until the longest rebalance
 * timeout of the members passes; members that did not rejoin are dropped.
 * A group that was Empty first waits group.initial.rebalance.delay.ms, and
 * again from each member that arrives meanwhile (never past the rebalance
 * timeout), so consumers starting together share one rebalance, formed one
 * delay after the last of them joined. (Kafka adds whole windows instead,
 * so a burst of joins there waits two delays.)
 * The generation then goes up, the protocol every member supports that most
 * members prefer is chosen, and the JoinGroup answers go out: the leader's
 * lists every member with its metadata. The leader's SyncGroup brings the
 * assignment, which is stored (a __consumer_offsets record) before any
 * member gets its part.
 *
 * Static members (group.instance.id) keep their place across restarts: a
 * JoinGroup with a known instance id and no member id gets a new member id,
 * fences the old one (FENCED_INSTANCE_ID), and in a Stable group whose
 * protocols did not change gets the current assignment without a
 * rebalance.
 *
 * Threads: everything here runs on b->groups_thread, which owns all of it:
 * no locks. Requests arrive through BR_ON_GROUPS handlers (api_groups.c,
 * api_offsets.c), parked ones are answered with br_request_return().
 * Timers (session expiry, rebalance delays, the offsets expiry sweep) are
 * libevent timers of that thread.
 */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/br_int.h"

/* Kafka's names of the states, as DescribeGroups and ListGroups show them. */
static const char *const state_names[] = {
	"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead",
};

/* ------------------------------------------------------------- helpers */

struct event_base *br__groups_base(br_groups *g)
{
	return br_reactor_base(g->b->groups_thread);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void set_state(struct br__group *grp, enum br__group_state s)
{
	if (grp->state != s)
		br__logf(ST_LOG_DEBUG, "group %s: %s -> %s (generation %d)", grp->id,
			 state_names[grp->state], state_names[s], grp->generation);
	grp->state = s;
	grp->state_ts = br__wall_ms();
}

static void arm(struct event *ev, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	evtimer_add(ev, &tv);
}

/* A new member id: the client id (or instance id) and a random UUID, as
 * Kafka makes them. */
static char *member_id_new(const char *prefix)
{
	uint8_t u[16];
	char id_str[23];
	size_t len = strlen(prefix) + 1 + sizeof(id_str);
	char *id = malloc(len);

	if (!id)
		return NULL;
	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
		/* getrandom() on Linux does not fail for 16 bytes once the
		 * pool is up; fall back to the clock rather than fail. */
		int64_t t = br__now_ns();

		memcpy(u, &t, sizeof(t));
		memcpy(u + 8, &prefix, sizeof(prefix));
	}
	br_uuid_to_str(u, id_str);
	snprintf(id, len, "%s-%s", prefix, id_str);
	return id;
}

/* ------------------------------------------------------- groups, members */

struct br__group *br__group_find(br_groups *g, const char *id)
{
	return br_strmap_get(&g->groups, id, strlen(id));
}

struct br__group *br__group_get_or_create(br_groups *g, const char *id)
{
	struct br__group *grp = br__group_find(g, id);

	if (grp)
		return grp;
	if (!(grp = calloc(1, sizeof(*grp))))
		return NULL;
	grp->owner = g;
	grp->state = BR__GROUP_EMPTY;
	grp->state_ts = br__wall_ms();
	br_strmap_init(&grp->offsets);
	if (!(grp->id = strdup(id)) || br_strmap_put(&g->groups, id, strlen(id), grp, NULL) < 0) {
		free(grp->id);
		free(grp);
		return NULL;
	}
	return grp;
}

static void protocols_free(struct br__protocol *p, int n)
{
	for (int i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].metadata);
	}
	free(p);
}

static void member_free(struct br__member *m)
{
	if (m->expire_ev)
		event_free(m->expire_ev);
	free(m->id);
	free(m->instance_id);
	free(m->client_id);
	free(m->client_host);
	protocols_free(m->protocols, m->n_protocols);
	free(m->assignment);
	free(m);
}

static void pending_free(struct br__pending *p)
{
	if (p->expire_ev)
		event_free(p->expire_ev);
	free(p->id);
	free(p);
}

void br__group_free(struct br__group *grp)
{
	while (grp->members) {
		struct br__member *m = grp->members;

		grp->members = m->next;
		member_free(m);
	}
	while (grp->pending) {
		struct br__pending *p = grp->pending;

		grp->pending = p->next;
		pending_free(p);
	}
	if (grp->join_ev)
		event_free(grp->join_ev);
	br_strmap_free(&grp->offsets, br__committed_free);
	free(grp->id);
	free(grp->protocol_type);
	free(grp->protocol_name);
	free(grp->leader);
	free(grp);
}

static void group_free_void(void *v)
{
	br__group_free(v);
}

/* Drops a group that holds nothing any more (no members, no offsets, no
 * append in flight), as Kafka forgets such groups. */
void br__group_maybe_forget(struct br__group *grp)
{
	br_groups *g = grp->owner;

	if (grp->deleted || grp->n_members > 0 || grp->pending || grp->offsets.n > 0 ||
	    grp->writes_in_flight > 0 || grp->state != BR__GROUP_EMPTY || grp->generation > 0)
		return;
	br_strmap_del(&g->groups, grp->id, strlen(grp->id));
	br__group_free(grp);
}

void br__group_remove(struct br__group *grp)
{
	br_groups *g = grp->owner;

	br_strmap_del(&g->groups, grp->id, strlen(grp->id));
	grp->deleted = true;
	grp->state = BR__GROUP_DEAD;
	if (grp->writes_in_flight == 0)
		br__group_free(grp);
}

bool br__group_write_done(struct br__group *grp)
{
	grp->writes_in_flight--;
	if (grp->deleted && grp->writes_in_flight == 0) {
		br__group_free(grp);
		return true;
	}
	return false;
}

struct br__member *br__member_find(const struct br__group *grp, const char *id)
{
	for (struct br__member *m = grp->members; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static struct br__member *member_by_instance(const struct br__group *grp, const char *instance_id)
{
	if (!instance_id)
		return NULL;
	for (struct br__member *m = grp->members; m; m = m->next)
		if (m->instance_id && strcmp(m->instance_id, instance_id) == 0)
			return m;
	return NULL;
}

/* A request naming a static member by an older member id: the instance
 * has moved on to a newer incarnation, and this one is fenced. */
bool br__group_fenced(const struct br__group *grp, const char *member_id, const char *instance_id)
{
	const struct br__member *owner = member_by_instance(grp, instance_id);

	return owner && strcmp(owner->id, member_id) != 0;
}

static struct br__pending *pending_find(const struct br__group *grp, const char *id)
{
	for (struct br__pending *p = grp->pending; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

static void pending_remove(struct br__group *grp, struct br__pending *p)
{
	for (struct br__pending **pp = &grp->pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			pending_free(p);
			return;
		}
	}
}

/* ------------------------------------------------------------- answers */

static void answer_join_error(struct br__member *m, int16_t error)
{
	br_join_result r = { .error = error, .generation = -1, .member_id = m->id };

	if (m->join_req) {
		br__join_group_answer(m->join_req, m->join_version, &r);
		m->join_req = NULL;
	}
}

static void answer_sync_error(struct br__member *m, int16_t error)
{
	if (m->sync_req) {
		br__sync_group_answer(m->sync_req, error, NULL, NULL, NULL, 0);
		m->sync_req = NULL;
	}
}

/* The JoinGroup answer of the current generation; the leader's lists every
 * member with its metadata for the chosen protocol. */
static void answer_join(struct br__group *grp, struct br__member *m, br_request *req, int16_t version,
			bool with_members)
{
	br_join_result r = {
		.error = KE_NONE,
		.generation = grp->generation,
		.protocol_type = grp->protocol_type,
		.protocol_name = grp->protocol_name,
		.leader = grp->leader ? grp->leader : "",
		.member_id = m->id,
	};
	br_join_member *list = NULL;

	if (with_members && grp->leader && strcmp(grp->leader, m->id) == 0) {
		list = calloc((size_t)grp->n_members + 1, sizeof(*list));
		if (!list) {
			r.error = KE_UNKNOWN_SERVER_ERROR;
		} else {
			for (struct br__member *o = grp->members; o; o = o->next) {
				br_join_member *jm = &list[r.n_members++];

				jm->member_id = o->id;
				jm->instance_id = o->instance_id;
				for (int i = 0; i < o->n_protocols; i++) {
					if (grp->protocol_name &&
					    strcmp(o->protocols[i].name, grp->protocol_name) == 0) {
						jm->metadata = o->protocols[i].metadata;
						jm->metadata_len = o->protocols[i].metadata_len;
						break;
					}
				}
			}
			r.members = list;
		}
	}
	br__join_group_answer(req, version, &r);
	free(list);
}

/* ---------------------------------------------------------- expiry timers */

static void member_remove(struct br__group *grp, struct br__member *m, const char *why);

static void on_member_expired(evutil_socket_t fd, short what, void *arg)
{
	struct br__member *m = arg;
	struct br__group *grp = m->group;

	(void)fd;
	(void)what;
	/* A member waiting in JoinGroup or SyncGroup is alive: the rebalance
	 * timeout bounds the first, the leader's session the second. */
	if (m->join_req || m->sync_req) {
		arm(m->expire_ev, m->session_timeout_ms);
		return;
	}
	br__logf(ST_LOG_INFO, "group %s: member %s missed its session timeout (%d ms)", grp->id,
		 m->id, m->session_timeout_ms);
	member_remove(grp, m, "session timeout");
}

void br__member_heartbeat(struct br__member *m)
{
	arm(m->expire_ev, m->session_timeout_ms);
}

static void try_complete_join(struct br__group *grp);

static void on_pending_expired(evutil_socket_t fd, short what, void *arg)
{
	struct br__pending *p = arg;
	struct br__group *grp = p->group;

	(void)fd;
	(void)what;
	pending_remove(grp, p);
	if (grp->state == BR__GROUP_PREPARING)
		try_complete_join(grp);
	else
		br__group_maybe_forget(grp);
}

/* ------------------------------------------------------------ persistence */

/* Appends the group's metadata record (members and assignments as of
 * now); done(grp, err) runs when it is durable. */
static void group_store_done(void *arg, int err);

struct group_write {
	struct br__group *group;
	int32_t generation;
	void (*then)(struct br__group *grp, int32_t generation, int err);
};

static int group_store(struct br__group *grp, void (*then)(struct br__group *, int32_t, int))
{
	br_groups *g = grp->owner;
	br_group_record rec = {
		.protocol_type = grp->protocol_type ? grp->protocol_type : "",
		.generation = grp->generation,
		.protocol_name = grp->protocol_name,
		.leader = grp->leader,
		.state_ts = grp->state_ts,
	};
	br_group_record_member *ms = calloc((size_t)grp->n_members + 1, sizeof(*ms));
	struct group_write *w = calloc(1, sizeof(*w));
	kp_buf key, value;
	br_gstore_record r = { &key, &value };
	int err;

	if (!ms || !w) {
		free(ms);
		free(w);
		return -ENOMEM;
	}
	for (struct br__member *m = grp->members; m; m = m->next) {
		br_group_record_member *rm = &ms[rec.n_members++];

		rm->member_id = m->id;
		rm->instance_id = m->instance_id;
		rm->client_id = m->client_id;
		rm->client_host = m->client_host;
		rm->rebalance_timeout_ms = m->rebalance_timeout_ms;
		rm->session_timeout_ms = m->session_timeout_ms;
		for (int i = 0; i < m->n_protocols; i++) {
			if (grp->protocol_name && strcmp(m->protocols[i].name, grp->protocol_name) == 0) {
				rm->subscription = m->protocols[i].metadata;
				rm->subscription_len = m->protocols[i].metadata_len;
			}
		}
		rm->assignment = m->assignment;
		rm->assignment_len = m->assignment_len;
	}
	rec.members = ms;
	kp_buf_init(&key);
	kp_buf_init(&value);
	br__group_metadata_key(&key, grp->id);
	br__group_metadata_value(&value, &rec);
	free(ms);
	w->group = grp;
	w->generation = grp->generation;
	w->then = then;
	err = key.err ? key.err : value.err;
	if (err == 0)
		err = br__gstore_append(g->b, br__offsets_partition_for(grp->id, br__groups_partitions(g)),
					&r, 1, group_store_done, w);
	kp_buf_free(&key);
	kp_buf_free(&value);
	if (err < 0) {
		free(w);
		return err;
	}
	grp->writes_in_flight++;
	return 0;
}

static void group_store_done(void *arg, int err)
{
	struct group_write *w = arg;
	struct br__group *grp = w->group;

	if (br__group_write_done(grp) || grp->deleted) {
		free(w);
		return;
	}
	if (err)
		br__logf(ST_LOG_WARN, "group %s: storing generation %d failed: %s", grp->id,
			 w->generation, st_strerror(err));
	if (w->then && !grp->owner->stopped)
		w->then(grp, w->generation, err);
	free(w);
	if (!grp->owner->stopped)
		br__group_maybe_forget(grp);
}

/* ------------------------------------------------------------ rebalancing */

static int32_t max_rebalance_timeout(const struct br__group *grp)
{
	int32_t t = 0;

	for (const struct br__member *m = grp->members; m; m = m->next)
		if (m->rebalance_timeout_ms > t)
			t = m->rebalance_timeout_ms;
	return t > 0 ? t : 1;
}

static void on_join_timer(evutil_socket_t fd, short what, void *arg);

static void prepare_rebalance(struct br__group *grp, const char *why)
{
	br_groups *g = grp->owner;
	int64_t delay = g->b->cfg.group_initial_rebalance_delay_ms;
	int32_t rt = max_rebalance_timeout(grp);

	if (grp->state == BR__GROUP_COMPLETING) {
		/* The assignment being handed out is void: members go back
		 * to JoinGroup. */
		for (struct br__member *m = grp->members; m; m = m->next)
			answer_sync_error(m, KE_REBALANCE_IN_PROGRESS);
	}
	if (!grp->join_ev && !(grp->join_ev = evtimer_new(br__groups_base(g), on_join_timer, grp))) {
		/* Without a timer the rebalance still completes when every
		 * member has rejoined; only the timeout is lost. */
		br__logf(ST_LOG_ERROR, "group %s: out of memory for the rebalance timer", grp->id);
	}
	if (grp->join_ev)
		evtimer_del(grp->join_ev);
	if (!grp->join_ev) {
		grp->initial_delay = false;
	} else if (grp->state == BR__GROUP_EMPTY && delay > 0) {
		grp->initial_delay = true;
		grp->delay_deadline_ms = br__now_ms() + rt;
		arm(grp->join_ev, delay < rt ? delay : rt);
	} else {
		grp->initial_delay = false;
		arm(grp->join_ev, rt);
	}
	br__logf(ST_LOG_INFO, "group %s: preparing to rebalance (%s; generation %d, %d members)",
		 grp->id, why, grp->generation, grp->n_members);
	set_state(grp, BR__GROUP_PREPARING);
}

static void maybe_prepare_rebalance(struct br__group *grp, const char *why)
{
	if (grp->state == BR__GROUP_STABLE || grp->state == BR__GROUP_COMPLETING || grp->state == BR__GROUP_EMPTY)
		prepare_rebalance(grp, why);
}

/* The protocol every member supports that most members list first among
 * those; ties go to the one the earliest member prefers. */
static const char *select_protocol(const struct br__group *grp)
{
	const struct br__member *first = grp->members;
	const char *best = NULL;
	int best_votes = -1;

	if (!first)
		return NULL;
	for (int i = 0; i < first->n_protocols; i++) {
		const char *cand = first->protocols[i].name;
		bool everyone = true;
		int votes = 0;

		for (const struct br__member *m = grp->members; m && everyone; m = m->next) {
			bool has = false;

			for (int j = 0; j < m->n_protocols && !has; j++)
				has = strcmp(m->protocols[j].name, cand) == 0;
			everyone = has;
		}
		if (!everyone)
			continue;
		for (const struct br__member *m = grp->members; m; m = m->next) {
			/* A member votes for its first protocol that all support. */
			for (int j = 0; j < m->n_protocols; j++) {
				bool all = true;

				for (const struct br__member *o = grp->members; o && all; o = o->next) {
					bool has = false;

					for (int k = 0; k < o->n_protocols && !has; k++)
						has = strcmp(o->protocols[k].name, m->protocols[j].name) == 0;
					all = has;
				}
				if (all) {
					votes += strcmp(m->protocols[j].name, cand) == 0;
					break;
				}
			}
		}
		if (votes > best_votes) {
			best = cand;
			best_votes = votes;
		}
	}
	return best;
}

static void complete_join_stored(struct br__group *grp, int32_t generation, int err)
{
	(void)grp;
	(void)generation;
	(void)err;
}

static void complete_join(struct br__group *grp)
{
	struct br__member **pp = &grp->members;

	if (grp->join_ev)
		evtimer_del(grp->join_ev);
	grp->initial_delay = false;
	/* Members that did not rejoin in time are out. */
	while (*pp) {
		struct br__member *m = *pp;

		if (m->join_req) {
			pp = &m->next;
			continue;
		}
		br__logf(ST_LOG_INFO, "group %s: member %s did not rejoin in time and is removed",
			 grp->id, m->id);
		*pp = m->next;
		grp->n_members--;
		answer_sync_error(m, KE_REBALANCE_IN_PROGRESS);
		if (grp->leader && strcmp(grp->leader, m->id) == 0) {
			free(grp->leader);
			grp->leader = NULL;
		}
		member_free(m);
	}
	grp->generation++;
	free(grp->protocol_name);
	grp->protocol_name = NULL;
	if (grp->n_members == 0) {
		/* The protocol type stays: Kafka lists an empty consumer group
		 * as a consumer group. */
		free(grp->leader);
		grp->leader = NULL;
		set_state(grp, BR__GROUP_EMPTY);
		br__logf(ST_LOG_INFO, "group %s: generation %d is empty", grp->id, grp->generation);
		if (group_store(grp, complete_join_stored) < 0)
			br__logf(ST_LOG_WARN, "group %s: cannot store the empty generation", grp->id);
		return;
	}
	if (!grp->leader)
		grp->leader = strdup(grp->members->id);
	grp->protocol_name = dup_or_null(select_protocol(grp));
	for (struct br__member *m = grp->members; m; m = m->next) {
		free(m->assignment);
		m->assignment = NULL;
		m->assignment_len = 0;
	}
	set_state(grp, BR__GROUP_COMPLETING);
	br__logf(ST_LOG_INFO, "group %s: generation %d with %d members, protocol %s, leader %s",
		 grp->id, grp->generation, grp->n_members,
		 grp->protocol_name ? grp->protocol_name : "(none)", grp->leader ? grp->leader : "-");
	for (struct br__member *m = grp->members; m; m = m->next) {
		br_request *req = m->join_req;

		m->join_req = NULL;
		answer_join(grp, m, req, m->join_version, true);
		br__member_heartbeat(m);
	}
}

static bool all_joined(const struct br__group *grp)
{
	if (grp->pending)
		return false;
	for (const struct br__member *m = grp->members; m; m = m->next)
		if (!m->join_req)
			return false;
	return true;
}

static void try_complete_join(struct br__group *grp)
{
	if (grp->state == BR__GROUP_PREPARING && !grp->initial_delay && all_joined(grp))
		complete_join(grp);
}

static void on_join_timer(evutil_socket_t fd, short what, void *arg)
{
	struct br__group *grp = arg;
	(void)fd;
	(void)what;
	if (grp->state != BR__GROUP_PREPARING)
		return;
	if (grp->initial_delay) {
		grp->initial_delay = false;
		if (all_joined(grp)) {
			complete_join(grp);
			return;
		}
		/* Someone known is still on the way: wait for it up to the
		 * rebalance timeout. */
		arm(grp->join_ev, max_rebalance_timeout(grp));
		return;
	}
	complete_join(grp);
}

static void member_remove(struct br__group *grp, struct br__member *m, const char *why)
{
	for (struct br__member **pp = &grp->members; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	grp->n_members--;
	answer_join_error(m, KE_UNKNOWN_MEMBER_ID);
	answer_sync_error(m, KE_UNKNOWN_MEMBER_ID);
	if (grp->leader && strcmp(grp->leader, m->id) == 0) {
		free(grp->leader);
		grp->leader = grp->members ? strdup(grp->members->id) : NULL;
	}
	member_free(m);
	if (grp->state == BR__GROUP_STABLE || grp->state == BR__GROUP_COMPLETING)
		prepare_rebalance(grp, why);
	else if (grp->state == BR__GROUP_PREPARING)
		try_complete_join(grp);
}

/* ------------------------------------------------------------ JoinGroup */

static bool protocols_equal(const struct br__member *m, const br_join_args *a)
{
	if ((size_t)m->n_protocols != a->n_protocols)
		return false;
	for (size_t i = 0; i < a->n_protocols; i++) {
		const struct br__protocol *p = &m->protocols[i];

		if (strcmp(p->name, a->protocols[i].name) != 0 ||
		    p->metadata_len != a->protocols[i].metadata_len ||
		    (p->metadata_len > 0 &&
		     memcmp(p->metadata, a->protocols[i].metadata, (size_t)p->metadata_len) != 0))
			return false;
	}
	return true;
}

/* The group supports these protocols: its type matches and, once it has
 * members, at least one protocol is common to all of them and the joiner. */
static bool protocols_supported(const struct br__group *grp, const br_join_args *a)
{
	if (a->n_protocols == 0 || !a->protocol_type[0])
		return false;
	if (grp->n_members == 0)
		return true;
	if (!same_str(grp->protocol_type, a->protocol_type))
		return false;
	for (size_t i = 0; i < a->n_protocols; i++) {
		bool everyone = true;

		for (const struct br__member *m = grp->members; m && everyone; m = m->next) {
			bool has = false;

			for (int j = 0; j < m->n_protocols && !has; j++)
				has = strcmp(m->protocols[j].name, a->protocols[i].name) == 0;
			everyone = has;
		}
		if (everyone)
			return true;
	}
	return false;
}

static int member_set_protocols(struct br__member *m, const br_join_args *a)
{
	struct br__protocol *p = calloc(a->n_protocols + 1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_protocols; i++) {
		int32_t len = a->protocols[i].metadata_len > 0 ? a->protocols[i].metadata_len : 0;

		p[i].name = strdup(a->protocols[i].name);
		p[i].metadata = malloc((size_t)len + 1);
		p[i].metadata_len = len;
		if (!p[i].name || !p[i].metadata) {
			protocols_free(p, (int)i + 1);
			return -ENOMEM;
		}
		if (len)
			memcpy(p[i].metadata, a->protocols[i].metadata, (size_t)len);
	}
	protocols_free(m->protocols, m->n_protocols);
	m->protocols = p;
	m->n_protocols = (int)a->n_protocols;
	return 0;
}

static int member_update(struct br__member *m, const br_join_args *a)
{
	char *cid = strdup(a->client_id), *host = strdup(a->client_host);

	if (!cid || !host || member_set_protocols(m, a) < 0) {
		free(cid);
		free(host);
		return -ENOMEM;
	}
	free(m->client_id);
	free(m->client_host);
	m->client_id = cid;
	m->client_host = host;
	m->session_timeout_ms = a->session_timeout_ms;
	m->rebalance_timeout_ms = a->rebalance_timeout_ms;
	return 0;
}

/* Parks the member's JoinGroup; a JoinGroup it had parked before is
 * superseded. */
static void member_park_join(struct br__member *m, br_request *req, int16_t version)
{
	answer_join_error(m, KE_REBALANCE_IN_PROGRESS);
	m->join_req = req;
	m->join_version = version;
}

/* An empty group takes the protocol type of its first member. */
static int group_set_protocol_type(struct br__group *grp, const char *type)
{
	char *t = strdup(type);

	if (!t)
		return -ENOMEM;
	free(grp->protocol_type);
	grp->protocol_type = t;
	return 0;
}

static void add_member_and_rebalance(struct br__group *grp, br_request *req, const br_join_args *a,
				     char *id)
{
	struct br__member *m = calloc(1, sizeof(*m));
	br_join_result err_r = { .error = KE_UNKNOWN_SERVER_ERROR, .generation = -1, .member_id = id };

	if (!m || !(m->expire_ev = evtimer_new(br__groups_base(grp->owner), on_member_expired, m)) ||
	    member_update(m, a) < 0 ||
	    (a->instance_id && !(m->instance_id = strdup(a->instance_id))) ||
	    (grp->n_members == 0 && group_set_protocol_type(grp, a->protocol_type) < 0)) {
		if (m)
			member_free(m);
		free(id);
		err_r.member_id = "";
		br__join_group_answer(req, a->version, &err_r);
		return;
	}
	m->group = grp;
	m->id = id;
	for (struct br__member **pp = &grp->members;; pp = &(*pp)->next) {
		if (!*pp) {
			*pp = m;
			break;
		}
	}
	grp->n_members++;
	if (!grp->leader)
		grp->leader = strdup(m->id);
	if (grp->state == BR__GROUP_PREPARING && grp->initial_delay) {
		/* Another member while the group gathers: wait a full delay
		 * from this join (never past the rebalance timeout), so the
		 * group forms one delay after the last of a burst of joins. */
		int64_t delay = grp->owner->b->cfg.group_initial_rebalance_delay_ms;
		int64_t left = grp->delay_deadline_ms - br__now_ms();

		if (left > 0)
			arm(grp->join_ev, delay < left ? delay : left);
	}
	member_park_join(m, req, a->version);
	br__member_heartbeat(m);
	maybe_prepare_rebalance(grp, "a member joined");
	try_complete_join(grp);
}

static void update_member_and_rebalance(struct br__group *grp, struct br__member *m, br_request *req,
					const br_join_args *a)
{
	if (member_update(m, a) < 0) {
		br_join_result r = { .error = KE_UNKNOWN_SERVER_ERROR, .generation = -1,
				     .member_id = m->id };

		br__join_group_answer(req, a->version, &r);
		return;
	}
	member_park_join(m, req, a->version);
	br__member_heartbeat(m);
	maybe_prepare_rebalance(grp, "a member rejoined with new metadata");
	try_complete_join(grp);
}

/* The static member's stored assignment stays valid: answer without a
 * rebalance once the new member id is stored. */
struct static_rejoin {
	br_request *req;
	int16_t version;
	char *member_id;
};

static void static_rejoin_answer(struct br__group *grp, struct static_rejoin *s, int err)
{
	br_join_result r = {
		.error = err ? KE_UNKNOWN_SERVER_ERROR : KE_NONE,
		.generation = grp->generation,
		.protocol_type = grp->protocol_type,
		.protocol_name = grp->protocol_name,
		.leader = grp->leader ? grp->leader : "",
		.member_id = s->member_id,
	};

	br__join_group_answer(s->req, s->version, &r);
}

static void replace_static_member(struct br__group *grp, struct br__member *m, br_request *req,
				  const br_join_args *a)
{
	char *new_id = member_id_new(a->instance_id);
	bool was_leader = grp->leader && strcmp(grp->leader, m->id) == 0;

	if (!new_id) {
		br_join_result r = { .error = KE_UNKNOWN_SERVER_ERROR, .generation = -1, .member_id = "" };

		br__join_group_answer(req, a->version, &r);
		return;
	}
	/* The old incarnation is fenced from here on. */
	answer_join_error(m, KE_FENCED_INSTANCE_ID);
	answer_sync_error(m, KE_FENCED_INSTANCE_ID);
	br__logf(ST_LOG_INFO, "group %s: static member %s rejoined: member id %s replaces %s",
		 grp->id, a->instance_id, new_id, m->id);
	free(m->id);
	m->id = new_id;
	if (was_leader) {
		free(grp->leader);
		grp->leader = strdup(new_id);
	}
	if (grp->state == BR__GROUP_STABLE && protocols_equal(m, a)) {
		struct static_rejoin s = { req, a->version, new_id };

		br__member_heartbeat(m);
		static_rejoin_answer(grp, &s, 0);
		/* Stored so that a restart knows the new member id. */
		if (group_store(grp, NULL) < 0)
			br__logf(ST_LOG_WARN, "group %s: cannot store the static member's new id",
				 grp->id);
		return;
	}
	update_member_and_rebalance(grp, m, req, a);
}

void br_group_join(br_groups *g, br_request *req, const br_join_args *a)
{
	const br_config *cfg = &g->b->cfg;
	br_join_result r = { .error = KE_NONE, .generation = -1, .member_id = a->member_id };
	struct br__group *grp;
	struct br__member *m;
	struct br__pending *p;

	if (g->stopped) {
		r.error = KE_NOT_COORDINATOR;
		goto answer;
	}
	if (!a->group_id[0]) {
		r.error = KE_INVALID_GROUP_ID;
		goto answer;
	}
	if (a->session_timeout_ms < cfg->group_min_session_timeout_ms ||
	    a->session_timeout_ms > cfg->group_max_session_timeout_ms) {
		r.error = KE_INVALID_SESSION_TIMEOUT;
		goto answer;
	}
	grp = br__group_find(g, a->group_id);
	if (!grp && a->member_id[0]) {
		r.error = KE_UNKNOWN_MEMBER_ID;
		goto answer;
	}
	if (!grp && !(grp = br__group_get_or_create(g, a->group_id))) {
		r.error = KE_UNKNOWN_SERVER_ERROR;
		goto answer;
	}
	if (grp->state == BR__GROUP_DEAD) {
		r.error = KE_COORDINATOR_NOT_AVAILABLE;
		goto answer;
	}
	if (!protocols_supported(grp, a)) {
		r.error = KE_INCONSISTENT_GROUP_PROTOCOL;
		goto answer;
	}

	if (!a->member_id[0]) {
		/* A new member, or a static member back with a new process. */
		if (a->instance_id && (m = member_by_instance(grp, a->instance_id))) {
			replace_static_member(grp, m, req, a);
			return;
		}
		if (grp->n_members >= cfg->group_max_size) {
			r.error = KE_GROUP_MAX_SIZE_REACHED;
			goto answer;
		}
		char *id = member_id_new(a->instance_id ? a->instance_id : a->client_id);

		if (!id) {
			r.error = KE_UNKNOWN_SERVER_ERROR;
			goto answer;
		}
		if (!a->instance_id && a->version >= 4) {
			/* KIP-394: the member must come back with this id, so a
			 * client that never gets the answer leaves no ghost. */
			p = calloc(1, sizeof(*p));
			if (!p || !(p->expire_ev = evtimer_new(br__groups_base(g), on_pending_expired, p))) {
				free(p);
				free(id);
				r.error = KE_UNKNOWN_SERVER_ERROR;
				goto answer;
			}
			p->group = grp;
			p->id = id;
			p->next = grp->pending;
			grp->pending = p;
			arm(p->expire_ev, a->session_timeout_ms);
			r.error = KE_MEMBER_ID_REQUIRED;
			r.member_id = id;
			br__join_group_answer(req, a->version, &r);
			return;
		}
		add_member_and_rebalance(grp, req, a, id);
		return;
	}

	if ((p = pending_find(grp, a->member_id))) {
		char *id = strdup(p->id);

		pending_remove(grp, p);
		if (!id) {
			r.error = KE_UNKNOWN_SERVER_ERROR;
			goto answer;
		}
		add_member_and_rebalance(grp, req, a, id);
		return;
	}
	if (br__group_fenced(grp, a->member_id, a->instance_id)) {
		r.error = KE_FENCED_INSTANCE_ID;
		goto answer;
	}
	if (!(m = br__member_find(grp, a->member_id))) {
		r.error = KE_UNKNOWN_MEMBER_ID;
		goto answer;
	}
	switch (grp->state) {
	case BR__GROUP_PREPARING:
		update_member_and_rebalance(grp, m, req, a);
		return;
	case BR__GROUP_COMPLETING:
		if (protocols_equal(m, a)) {
			/* It missed our answer: send it again. */
			br__member_heartbeat(m);
			answer_join(grp, m, req, a->version, true);
			return;
		}
		update_member_and_rebalance(grp, m, req, a);
		return;
	case BR__GROUP_STABLE:
		if ((grp->leader && strcmp(grp->leader, m->id) == 0) || !protocols_equal(m, a)) {
			update_member_and_rebalance(grp, m, req, a);
			return;
		}
		br__member_heartbeat(m);
		answer_join(grp, m, req, a->version, false);
		return;
	case BR__GROUP_EMPTY:
	case BR__GROUP_DEAD:
		break;
	}
	r.error = KE_UNKNOWN_MEMBER_ID;
answer:
	if (r.error != KE_NONE && r.error != KE_MEMBER_ID_REQUIRED)
		br__logf(ST_LOG_DEBUG, "group %s: JoinGroup from %s: error %d", a->group_id,
			 a->member_id[0] ? a->member_id : "(new member)", r.error);
	br__join_group_answer(req, a->version, &r);
}

/* ------------------------------------------------------------ SyncGroup */

static void sync_stored(struct br__group *grp, int32_t generation, int err)
{
	if (grp->state != BR__GROUP_COMPLETING || grp->generation != generation)
		return;
	if (err) {
		for (struct br__member *m = grp->members; m; m = m->next)
			answer_sync_error(m, KE_COORDINATOR_NOT_AVAILABLE);
		prepare_rebalance(grp, "the assignment could not be stored");
		return;
	}
	set_state(grp, BR__GROUP_STABLE);
	for (struct br__member *m = grp->members; m; m = m->next) {
		if (m->sync_req) {
			br__sync_group_answer(m->sync_req, KE_NONE, grp->protocol_type,
					      grp->protocol_name, m->assignment, m->assignment_len);
			m->sync_req = NULL;
		}
	}
}

void br_group_sync(br_groups *g, br_request *req, const br_sync_args *a)
{
	struct br__group *grp = g->stopped ? NULL : br__group_find(g, a->group_id);
	struct br__member *m = grp ? br__member_find(grp, a->member_id) : NULL;
	int16_t error = KE_NONE;

	if (g->stopped)
		error = KE_NOT_COORDINATOR;
	else if (grp && br__group_fenced(grp, a->member_id, a->instance_id))
		error = KE_FENCED_INSTANCE_ID;
	else if (!grp || !m)
		error = grp && grp->state == BR__GROUP_DEAD ? KE_COORDINATOR_NOT_AVAILABLE : KE_UNKNOWN_MEMBER_ID;
	else if (a->generation != grp->generation)
		error = KE_ILLEGAL_GENERATION;
	else if ((a->protocol_type && !same_str(a->protocol_type, grp->protocol_type)) ||
		 (a->protocol_name && !same_str(a->protocol_name, grp->protocol_name)))
		error = KE_INCONSISTENT_GROUP_PROTOCOL;
	else if (grp->state == BR__GROUP_PREPARING)
		error = KE_REBALANCE_IN_PROGRESS;
	else if (grp->state != BR__GROUP_COMPLETING && grp->state != BR__GROUP_STABLE)
		error = KE_UNKNOWN_MEMBER_ID;
	if (error) {
		br__sync_group_answer(req, error, NULL, NULL, NULL, 0);
		return;
	}
	br__member_heartbeat(m);
	if (grp->state == BR__GROUP_STABLE) {
		br__sync_group_answer(req, KE_NONE, grp->protocol_type, grp->protocol_name,
				      m->assignment, m->assignment_len);
		return;
	}
	answer_sync_error(m, KE_REBALANCE_IN_PROGRESS);     /* a duplicate */
	m->sync_req = req;
	if (!grp->leader || strcmp(grp->leader, m->id) != 0)
		return;
	/* The leader's assignment: members it leaves out get an empty one. */
	for (size_t i = 0; i < a->n_assignments; i++) {
		struct br__member *o = br__member_find(grp, a->assignments[i].member_id);
		int32_t len = a->assignments[i].len > 0 ? a->assignments[i].len : 0;
		uint8_t *copy;

		if (!o)
			continue;
		if (!(copy = malloc((size_t)len + 1))) {
			sync_stored(grp, grp->generation, -ENOMEM);
			return;
		}
		if (len)
			memcpy(copy, a->assignments[i].data, (size_t)len);
		free(o->assignment);
		o->assignment = copy;
		o->assignment_len = len;
	}
	int err = group_store(grp, sync_stored);

	if (err < 0)
		sync_stored(grp, grp->generation, err);
}

/* ------------------------------------------------------------ Heartbeat */

int16_t br_group_heartbeat(br_groups *g, const char *group_id, const char *member_id,
			   const char *instance_id, int32_t generation)
{
	struct br__group *grp;
	struct br__member *m;

	if (g->stopped)
		return KE_NOT_COORDINATOR;
	if (!(grp = br__group_find(g, group_id)))
		return KE_UNKNOWN_MEMBER_ID;
	if (grp->state == BR__GROUP_DEAD)
		return KE_COORDINATOR_NOT_AVAILABLE;
	if (br__group_fenced(grp, member_id, instance_id))
		return KE_FENCED_INSTANCE_ID;
	if (!(m = br__member_find(grp, member_id)))
		return KE_UNKNOWN_MEMBER_ID;
	if (generation != grp->generation)
		return KE_ILLEGAL_GENERATION;
	br__member_heartbeat(m);
	return grp->state == BR__GROUP_PREPARING ? KE_REBALANCE_IN_PROGRESS : KE_NONE;
}

/* ----------------------------------------------------------- LeaveGroup */

int16_t br_group_leave(br_groups *g, const char *group_id, const char *member_id,
		       const char *instance_id)
{
	struct br__group *grp;
	struct br__member *m;
	struct br__pending *p;

	if (g->stopped)
		return KE_NOT_COORDINATOR;
	if (!(grp = br__group_find(g, group_id)))
		return KE_UNKNOWN_MEMBER_ID;
	if (instance_id) {
		if (!(m = member_by_instance(grp, instance_id)))
			return KE_UNKNOWN_MEMBER_ID;
		if (member_id && member_id[0] && strcmp(member_id, m->id) != 0)
			return KE_FENCED_INSTANCE_ID;
	} else if (!(m = br__member_find(grp, member_id))) {
		if ((p = pending_find(grp, member_id))) {
			pending_remove(grp, p);
			if (grp->state == BR__GROUP_PREPARING)
				try_complete_join(grp);
			return KE_NONE;
		}
		return KE_UNKNOWN_MEMBER_ID;
	}
	br__logf(ST_LOG_INFO, "group %s: member %s left", grp->id, m->id);
	member_remove(grp, m, "a member left");
	return KE_NONE;
}

/* ------------------------------------------------------ list, describe */

void br_groups_list(br_groups *g, void (*fn)(void *arg, const char *group_id,
					     const char *protocol_type, const char *state),
		    void *arg)
{
	br_strmap_iter it = { 0 };
	br_strmap_entry *e;

	while ((e = br_strmap_next(&g->groups, &it))) {
		const struct br__group *grp = br_strmap_entry_value(e);

		if (grp->state != BR__GROUP_DEAD)
			fn(arg, grp->id, grp->protocol_type ? grp->protocol_type : "",
			   state_names[grp->state]);
	}
}

int16_t br_group_describe(br_groups *g, const char *group_id, kp_arena *a, br_group_info *out)
{
	struct br__group *grp = br__group_find(g, group_id);
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	out->group_id = group_id;
	if (g->stopped)
		return KE_NOT_COORDINATOR;
	if (!grp) {
		/* Kafka describes an unknown group as Dead, without an error. */
		out->state = state_names[BR__GROUP_DEAD];
		out->protocol_type = "";
		out->protocol_name = "";
		return KE_NONE;
	}
	out->state = state_names[grp->state];
	out->protocol_type = grp->protocol_type ? grp->protocol_type : "";
	/* Kafka shows the protocol only once it is in force. */
	out->protocol_name = grp->state == BR__GROUP_STABLE && grp->protocol_name ? grp->protocol_name : "";
	out->members = kp_arena_calloc(a, (size_t)grp->n_members + 1, sizeof(*out->members));
	if (!out->members)
		return KE_UNKNOWN_SERVER_ERROR;
	for (struct br__member *m = grp->members; m; m = m->next, i++) {
		br_group_member_info *mi = &out->members[i];

		mi->member_id = m->id;
		mi->instance_id = m->instance_id;
		mi->client_id = m->client_id;
		mi->client_host = m->client_host;
		for (int k = 0; k < m->n_protocols; k++) {
			if (grp->protocol_name && strcmp(m->protocols[k].name, grp->protocol_name) == 0) {
				mi->metadata = m->protocols[k].metadata;
				mi->metadata_len = m->protocols[k].metadata_len;
			}
		}
		if (grp->state == BR__GROUP_STABLE) {
			mi->assignment = m->assignment;
			mi->assignment_len = m->assignment_len;
		}
	}
	out->n_members = i;
	return KE_NONE;
}

/* ----------------------------------------------------------- life cycle */

int br__groups_partitions(const br_groups *g)
{
	br_topic *t = br_topics_get(g->b->topics, BR_OFFSETS_TOPIC, strlen(BR_OFFSETS_TOPIC));
	int32_t n = t ? t->n_parts : g->b->cfg.offsets_topic_num_partitions;

	if (t)
		br_topic_put(t);
	return n;
}

int br_groups_new(br_broker *b, br_groups **out)
{
	br_groups *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->b = b;
	br_strmap_init(&g->groups);
	*out = g;
	return 0;
}

static void load_offset(void *arg, const char *group_id, const char *topic, size_t tlen,
			int32_t partition, const br_offset_value *v)
{
	br__offset_apply(arg, group_id, topic, tlen, partition, v);
}

static void load_group(void *arg, const char *group_id, const br_group_record *rec)
{
	br_groups *g = arg;
	struct br__group *grp;

	if (!rec) {
		/* DeleteGroups: the group and its offsets before this point go. */
		if ((grp = br__group_find(g, group_id)))
			br__group_remove(grp);
		return;
	}
	if (!(grp = br__group_get_or_create(g, group_id)))
		return;
	while (grp->members) {
		struct br__member *m = grp->members;

		grp->members = m->next;
		member_free(m);
	}
	grp->n_members = 0;
	free(grp->protocol_type);
	free(grp->protocol_name);
	free(grp->leader);
	grp->protocol_type = rec->protocol_type[0] ? strdup(rec->protocol_type) : NULL;
	grp->protocol_name = dup_or_null(rec->protocol_name);
	grp->leader = dup_or_null(rec->leader);
	grp->generation = rec->generation;
	grp->state_ts = rec->state_ts;
	grp->state = rec->n_members > 0 ? BR__GROUP_STABLE : BR__GROUP_EMPTY;
	for (size_t i = 0; i < rec->n_members; i++) {
		const br_group_record_member *rm = &rec->members[i];
		struct br__member *m = calloc(1, sizeof(*m));

		if (!m)
			break;
		m->group = grp;
		m->id = strdup(rm->member_id);
		m->instance_id = dup_or_null(rm->instance_id);
		m->client_id = strdup(rm->client_id);
		m->client_host = strdup(rm->client_host);
		m->session_timeout_ms = rm->session_timeout_ms;
		m->rebalance_timeout_ms = rm->rebalance_timeout_ms;
		m->protocols = calloc(2, sizeof(*m->protocols));
		m->assignment = malloc((size_t)rm->assignment_len + 1);
		if (m->protocols && grp->protocol_name) {
			m->n_protocols = 1;
			m->protocols[0].name = strdup(grp->protocol_name);
			m->protocols[0].metadata = malloc((size_t)rm->subscription_len + 1);
			m->protocols[0].metadata_len = rm->subscription_len;
			if (m->protocols[0].metadata && rm->subscription_len)
				memcpy(m->protocols[0].metadata, rm->subscription,
				       (size_t)rm->subscription_len);
		}
		if (m->assignment && rm->assignment_len)
			memcpy(m->assignment, rm->assignment, (size_t)rm->assignment_len);
		m->assignment_len = rm->assignment_len;
		if (!m->id || !m->client_id || !m->client_host || !m->protocols || !m->assignment ||
		    (m->n_protocols && (!m->protocols[0].name || !m->protocols[0].metadata))) {
			member_free(m);
			break;
		}
		for (struct br__member **pp = &grp->members;; pp = &(*pp)->next) {
			if (!*pp) {
				*pp = m;
				break;
			}
		}
		grp->n_members++;
	}
	if (grp->n_members == 0 && grp->state == BR__GROUP_STABLE) {
		grp->state = BR__GROUP_EMPTY;
		free(grp->leader);
		grp->leader = NULL;
	}
}

static void on_expiry_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	br__groups_expire(arg);
}

/* The first task of the groups thread: __consumer_offsets back into
 * memory, then members' session timers from now (they were alive when
 * the last broker stopped; they get a full session to show up again). */
static void groups_load_task(void *arg)
{
	br_groups *g = arg;
	const br_gstore_visitor v = { load_offset, load_group };
	int64_t records = 0, n_offsets = 0;
	int64_t t0 = br__now_ms();
	br_strmap_iter it = { 0 };
	br_strmap_entry *e;
	int err;
	struct timeval tv;

	err = br__gstore_load(g->b, &v, g, &records);
	while ((e = br_strmap_next(&g->groups, &it))) {
		struct br__group *grp = br_strmap_entry_value(e);

		n_offsets += (int64_t)grp->offsets.n;
		for (struct br__member *m = grp->members; m; m = m->next) {
			if ((m->expire_ev = evtimer_new(br__groups_base(g), on_member_expired, m)))
				br__member_heartbeat(m);
		}
	}
	if (err < 0)
		br__logf(ST_LOG_ERROR, "%s could not be read to its end (see above); groups and "
			 "offsets after that point are missing", BR_OFFSETS_TOPIC);
	if (records > 0)
		br__logf(ST_LOG_INFO, "loaded %zu groups and %" PRId64 " committed offsets from %"
			 PRId64 " records of %s in %" PRId64 " ms", g->groups.n, n_offsets, records,
			 BR_OFFSETS_TOPIC, br__now_ms() - t0);
	g->loaded = true;
	if ((g->expiry_ev = event_new(br__groups_base(g), -1, EV_PERSIST, on_expiry_timer, g))) {
		int64_t ms = g->b->cfg.offsets_retention_check_interval_ms;

		tv.tv_sec = (time_t)(ms / 1000);
		tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
		event_add(g->expiry_ev, &tv);
	}
}

int br_groups_start(br_groups *g)
{
	return br_reactor_post(g->b->groups_thread, groups_load_task, g);
}

/* Answers every parked request and drops every timer. */
static void groups_quiesce_task(void *arg)
{
	br_groups *g = arg;
	br_strmap_iter it = { 0 };
	br_strmap_entry *e;

	if (g->stopped)
		return;
	g->stopped = true;
	if (g->expiry_ev) {
		event_free(g->expiry_ev);
		g->expiry_ev = NULL;
	}
	while ((e = br_strmap_next(&g->groups, &it))) {
		struct br__group *grp = br_strmap_entry_value(e);

		if (grp->join_ev) {
			event_free(grp->join_ev);
			grp->join_ev = NULL;
		}
		for (struct br__member *m = grp->members; m; m = m->next) {
			answer_join_error(m, KE_NOT_COORDINATOR);
			answer_sync_error(m, KE_NOT_COORDINATOR);
			if (m->expire_ev) {
				event_free(m->expire_ev);
				m->expire_ev = NULL;
			}
		}
		for (struct br__pending *p = grp->pending; p; p = p->next) {
			if (p->expire_ev) {
				event_free(p->expire_ev);
				p->expire_ev = NULL;
			}
		}
	}
}

void br_groups_quiesce(br_groups *g)
{
	if (br_reactor_post(g->b->groups_thread, groups_quiesce_task, g) < 0)
		br__logf(ST_LOG_ERROR, "out of memory stopping the group coordinator");
}

void br_groups_free(br_groups *g)
{
	if (!g)
		return;
	br_strmap_free(&g->groups, group_free_void);
	free(g);
}
