//! The metadata conformance suite: what every [`MetadataStore`] must do, written
//! once and run against SQLite and PostgreSQL (`tests/sqlite.rs`,
//! `tests/postgres.rs`) through [`metadata_conformance_suite!`]. Each check gets
//! a new, empty store and works out its expectations by hand.

use chrono::{DateTime, Duration, TimeZone, Utc};
use tally_core::{
    InsightDraft, KeyGrant, KeyScope, MetaError, MetadataStore, NewUser, PipelineSettings,
    ProjectOptions, RefreshOutcome, Role, SessionLifetimes, User,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

async fn user(meta: &dyn MetadataStore, email: &str) -> User {
    meta.create_user(
        NewUser {
            email: Some(email.to_owned()),
            name: email.split('@').next().unwrap_or_default().to_owned(),
            password_hash: Some(format!("hash-of-{email}")),
            is_superuser: false,
        },
        t0(),
    )
    .await
    .expect("user created")
}

pub async fn projects_members_and_roles(meta: &dyn MetadataStore) {
    let ann = user(meta, "ann@example.com").await;
    let bob = user(meta, "bob@example.com").await;
    let a = meta.create_project("Shop", Some(ann.id)).await.unwrap();
    let b = meta.create_project("Blog", None).await.unwrap();
    assert_eq!(meta.role_of(a.id, ann.id).await.unwrap(), Some(Role::Owner));
    assert_eq!(meta.role_of(b.id, ann.id).await.unwrap(), None);
    assert_eq!(meta.role_of(a.id, bob.id).await.unwrap(), None);

    meta.set_member(a.id, bob.id, Role::Viewer).await.unwrap();
    meta.set_member(b.id, bob.id, Role::Admin).await.unwrap();
    // Setting again changes the role instead of adding a second membership.
    meta.set_member(a.id, bob.id, Role::Admin).await.unwrap();
    let members = meta.members(a.id).await.unwrap();
    let roles: Vec<_> = members
        .iter()
        .map(|m| (m.user.email.clone().unwrap(), m.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("ann@example.com".to_owned(), Role::Owner),
            ("bob@example.com".to_owned(), Role::Admin)
        ]
    );
    let bobs: Vec<_> = meta
        .projects_of_user(bob.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(p, r)| (p.name, r))
        .collect();
    assert_eq!(
        bobs,
        [
            ("Shop".to_owned(), Role::Admin),
            ("Blog".to_owned(), Role::Admin)
        ]
    );
    assert!(matches!(
        meta.set_member(a.id, 999_999, Role::Viewer).await,
        Err(MetaError::NotFound)
    ));

    meta.remove_member(a.id, bob.id).await.unwrap();
    assert_eq!(meta.role_of(a.id, bob.id).await.unwrap(), None);
    assert!(matches!(
        meta.remove_member(a.id, bob.id).await,
        Err(MetaError::NotFound)
    ));

    meta.rename_project(a.id, "Shop EU").await.unwrap();
    assert_eq!(
        meta.get_project(a.id).await.unwrap().unwrap().name,
        "Shop EU"
    );
    assert!(matches!(
        meta.rename_project(999_999, "x").await,
        Err(MetaError::NotFound)
    ));

    assert_eq!(
        meta.project_options(a.id).await.unwrap(),
        ProjectOptions::default()
    );
    let options = ProjectOptions {
        timezone: "Europe/Berlin".into(),
        allowed_origins: vec!["https://shop.example".into()],
        retention_days: Some(400),
    };
    meta.set_project_options(a.id, &options).await.unwrap();
    assert_eq!(meta.project_options(a.id).await.unwrap(), options);
    let off = PipelineSettings {
        drop_bots: true,
        use_ip: false,
    };
    meta.set_pipeline_settings(a.id, off).await.unwrap();
    let all = meta.all_pipeline_settings().await.unwrap();
    assert_eq!(all, [(a.id, off), (b.id, PipelineSettings::default())]);

    // Deleting takes the keys and memberships with it.
    let key = meta.create_ingest_key(a.id).await.unwrap();
    meta.delete_project(a.id).await.unwrap();
    assert_eq!(meta.get_project(a.id).await.unwrap(), None);
    assert_eq!(meta.role_of(a.id, ann.id).await.unwrap(), None);
    assert_eq!(meta.authenticate(&key.plaintext, t0()).await.unwrap(), None);
    assert_eq!(meta.list_projects().await.unwrap(), vec![b]);
    assert!(matches!(
        meta.delete_project(a.id).await,
        Err(MetaError::NotFound)
    ));
}

pub async fn ingest_keys_authenticate_and_rotate_with_grace(meta: &dyn MetadataStore) {
    let a = meta.create_project("a", None).await.unwrap();
    let b = meta.create_project("b", None).await.unwrap();
    let key_a = meta.create_ingest_key(a.id).await.unwrap();
    let key_b = meta.create_ingest_key(b.id).await.unwrap();
    let now = t0();
    assert_eq!(
        meta.authenticate(&key_a.plaintext, now).await.unwrap(),
        Some(KeyGrant::Ingest { project_id: a.id })
    );
    assert_eq!(
        meta.authenticate(&key_b.plaintext, now).await.unwrap(),
        Some(KeyGrant::Ingest { project_id: b.id })
    );
    // Same lookup id, another last character: the hash decides.
    let mut forged = key_a.plaintext.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'Z' { 'Y' } else { 'Z' });
    assert_eq!(meta.authenticate(&forged, now).await.unwrap(), None);
    // An ingest key relabelled as a personal key does not become one.
    let relabelled = key_a.plaintext.replacen("tly_ing_", "tly_adm_", 1);
    assert_eq!(meta.authenticate(&relabelled, now).await.unwrap(), None);
    assert_eq!(meta.authenticate("nonsense", now).await.unwrap(), None);
    assert!(matches!(
        meta.create_ingest_key(999_999).await,
        Err(MetaError::NotFound)
    ));

    let rotated = meta
        .rotate_ingest_key(a.id, Duration::minutes(10), now)
        .await
        .unwrap();
    let grant_a = Some(KeyGrant::Ingest { project_id: a.id });
    let at = |minutes| now + Duration::minutes(minutes);
    assert_eq!(
        meta.authenticate(&key_a.plaintext, at(9)).await.unwrap(),
        grant_a
    );
    assert_eq!(
        meta.authenticate(&key_a.plaintext, at(10)).await.unwrap(),
        None
    );
    assert_eq!(
        meta.authenticate(&rotated.plaintext, at(60)).await.unwrap(),
        grant_a
    );
    // Another project's key is untouched by the rotation.
    assert!(meta
        .authenticate(&key_b.plaintext, at(60))
        .await
        .unwrap()
        .is_some());
    // Rotating again with a longer grace does not prolong the first key.
    let third = meta
        .rotate_ingest_key(a.id, Duration::hours(2), at(1))
        .await
        .unwrap();
    assert_eq!(
        meta.authenticate(&key_a.plaintext, at(11)).await.unwrap(),
        None
    );
    assert_eq!(
        meta.authenticate(&rotated.plaintext, at(100))
            .await
            .unwrap(),
        grant_a
    );
    assert_eq!(
        meta.authenticate(&rotated.plaintext, at(121))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        meta.authenticate(&third.plaintext, at(500)).await.unwrap(),
        grant_a
    );
}

pub async fn personal_keys_scope_use_and_revocation(meta: &dyn MetadataStore) {
    let ann = user(meta, "ann@example.com").await;
    let bob = user(meta, "bob@example.com").await;
    let now = t0();
    let (listed, read) = meta
        .create_personal_key(ann.id, "ci read", KeyScope::Read, now)
        .await
        .unwrap();
    let (_, write) = meta
        .create_personal_key(ann.id, "deploy", KeyScope::Write, now)
        .await
        .unwrap();
    assert_eq!(listed.last_used_at, None);
    assert_eq!(
        meta.authenticate(&read.plaintext, now + Duration::minutes(5))
            .await
            .unwrap(),
        Some(KeyGrant::Personal {
            user_id: ann.id,
            key_id: listed.id,
            scope: KeyScope::Read
        })
    );
    assert!(matches!(
        meta.authenticate(&write.plaintext, now).await.unwrap(),
        Some(KeyGrant::Personal {
            scope: KeyScope::Write,
            ..
        })
    ));
    let keys = meta.personal_keys(ann.id).await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["deploy", "ci read"]
    );
    assert_eq!(keys[1].last_used_at, Some(now + Duration::minutes(5)));
    assert!(meta.personal_keys(bob.id).await.unwrap().is_empty());

    // Only its owner revokes it, once.
    assert!(matches!(
        meta.revoke_personal_key(bob.id, listed.id, now).await,
        Err(MetaError::NotFound)
    ));
    meta.revoke_personal_key(ann.id, listed.id, now)
        .await
        .unwrap();
    assert_eq!(meta.authenticate(&read.plaintext, now).await.unwrap(), None);
    assert!(matches!(
        meta.revoke_personal_key(ann.id, listed.id, now).await,
        Err(MetaError::NotFound)
    ));
    assert_eq!(meta.personal_keys(ann.id).await.unwrap().len(), 1);

    // A deactivated user's keys stop working, and work again on reactivation.
    meta.set_user_active(ann.id, false).await.unwrap();
    assert_eq!(
        meta.authenticate(&write.plaintext, now).await.unwrap(),
        None
    );
    meta.set_user_active(ann.id, true).await.unwrap();
    assert!(meta
        .authenticate(&write.plaintext, now)
        .await
        .unwrap()
        .is_some());
    meta.delete_user(ann.id).await.unwrap();
    assert_eq!(
        meta.authenticate(&write.plaintext, now).await.unwrap(),
        None
    );
    assert_eq!(meta.user(ann.id).await.unwrap(), None);
}

pub async fn users_setup_emails_and_lockout(meta: &dyn MetadataStore) {
    let now = t0();
    // The first start's unclaimed superuser.
    let first = meta
        .create_user(
            NewUser {
                email: None,
                name: "admin".into(),
                password_hash: None,
                is_superuser: true,
            },
            now,
        )
        .await
        .unwrap();
    let project = meta
        .create_project("default", Some(first.id))
        .await
        .unwrap();
    assert!(!meta.setup_complete().await.unwrap());
    let claimed = meta
        .claim_first_user("Root@Example.com", "Root", "phc-1", now)
        .await
        .unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.email.as_deref(), Some("root@example.com"));
    assert!(claimed.is_superuser);
    assert!(meta.setup_complete().await.unwrap());
    assert_eq!(
        meta.role_of(project.id, claimed.id).await.unwrap(),
        Some(Role::Owner)
    );
    assert!(matches!(
        meta.claim_first_user("other@example.com", "x", "phc-2", now)
            .await,
        Err(MetaError::Conflict(_))
    ));

    let ann = user(meta, "ann@example.com").await;
    assert!(!ann.is_superuser && ann.is_active);
    // Emails are unique whatever their case.
    let again = meta
        .create_user(
            NewUser {
                email: Some("ANN@example.com".into()),
                name: "Ann 2".into(),
                password_hash: None,
                is_superuser: false,
            },
            now,
        )
        .await;
    assert!(matches!(again, Err(MetaError::Conflict(_))));
    assert_eq!(
        meta.user_by_email("Ann@Example.COM").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(meta.users().await.unwrap().len(), 2);

    let record = meta.login_record("ann@EXAMPLE.com").await.unwrap().unwrap();
    assert_eq!(
        record.password_hash.as_deref(),
        Some("hash-of-ann@example.com")
    );
    assert_eq!((record.failed_logins, record.locked_until), (0, None));
    // Four failures count; the fifth locks for 15 minutes and restarts the count.
    for i in 1..=4 {
        let locked = meta
            .record_login_failure(ann.id, 5, Duration::minutes(15), now)
            .await
            .unwrap();
        assert_eq!(locked, None, "failure {i}");
    }
    let locked = meta
        .record_login_failure(ann.id, 5, Duration::minutes(15), now)
        .await
        .unwrap();
    assert_eq!(locked, Some(now + Duration::minutes(15)));
    let record = meta.login_record("ann@example.com").await.unwrap().unwrap();
    assert_eq!(
        (record.failed_logins, record.locked_until),
        (0, Some(now + Duration::minutes(15)))
    );
    meta.record_login_failure(ann.id, 5, Duration::minutes(15), now)
        .await
        .unwrap();
    meta.record_login_success(ann.id).await.unwrap();
    let record = meta.login_record("ann@example.com").await.unwrap().unwrap();
    assert_eq!((record.failed_logins, record.locked_until), (0, None));

    meta.set_password(ann.id, "phc-new").await.unwrap();
    let record = meta.login_record("ann@example.com").await.unwrap().unwrap();
    assert_eq!(record.password_hash.as_deref(), Some("phc-new"));
    assert!(matches!(
        meta.set_password(999_999, "x").await,
        Err(MetaError::NotFound)
    ));
    assert!(meta
        .login_record("nobody@example.com")
        .await
        .unwrap()
        .is_none());
}

pub async fn sessions_rotate_detect_reuse_and_revoke(meta: &dyn MetadataStore) {
    let ann = user(meta, "ann@example.com").await;
    let now = t0();
    let life = SessionLifetimes::default();
    let first = meta.create_session(ann.id, life, now).await.unwrap();
    let grant = meta
        .session(&first.access_token, now + Duration::minutes(14))
        .await
        .unwrap()
        .expect("access token valid for 15 minutes");
    assert_eq!(grant.user_id, ann.id);
    assert_eq!(grant.csrf_token, first.csrf_token);
    assert_eq!(
        meta.session(&first.access_token, now + Duration::minutes(15))
            .await
            .unwrap(),
        None
    );
    // A refresh token is not an access token, nor the reverse.
    assert_eq!(meta.session(&first.refresh_token, now).await.unwrap(), None);
    assert!(matches!(
        meta.refresh_session(&first.access_token, life, now)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    ));

    let later = now + Duration::minutes(20);
    let RefreshOutcome::Rotated(second) = meta
        .refresh_session(&first.refresh_token, life, later)
        .await
        .unwrap()
    else {
        panic!("a current refresh token rotates");
    };
    assert_eq!(second.session_id, first.session_id);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(meta
        .session(&second.access_token, later)
        .await
        .unwrap()
        .is_some());

    // Replaying the spent refresh token revokes the whole session.
    let replay = meta
        .refresh_session(&first.refresh_token, life, later)
        .await
        .unwrap();
    assert!(matches!(
        replay,
        RefreshOutcome::ReuseDetected { session_id } if session_id == first.session_id
    ));
    assert_eq!(
        meta.session(&second.access_token, later).await.unwrap(),
        None
    );
    assert!(matches!(
        meta.refresh_session(&second.refresh_token, life, later)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    ));

    // Refresh tokens expire.
    let s = meta.create_session(ann.id, life, now).await.unwrap();
    assert!(matches!(
        meta.refresh_session(&s.refresh_token, life, now + Duration::days(31))
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    ));

    // Revoking all but one (a password change) and one (a logout).
    let keep = meta.create_session(ann.id, life, now).await.unwrap();
    let other = meta.create_session(ann.id, life, now).await.unwrap();
    meta.revoke_user_sessions(ann.id, Some(keep.session_id), now)
        .await
        .unwrap();
    assert_eq!(meta.session(&other.access_token, now).await.unwrap(), None);
    assert!(meta
        .session(&keep.access_token, now)
        .await
        .unwrap()
        .is_some());
    meta.set_user_active(ann.id, false).await.unwrap();
    assert_eq!(meta.session(&keep.access_token, now).await.unwrap(), None);
    meta.set_user_active(ann.id, true).await.unwrap();
    meta.revoke_session(keep.session_id, now).await.unwrap();
    assert_eq!(meta.session(&keep.access_token, now).await.unwrap(), None);
}

pub async fn invites_are_spent_once_and_expire(meta: &dyn MetadataStore) {
    let ann = user(meta, "ann@example.com").await;
    let bob = user(meta, "bob@example.com").await;
    let p = meta.create_project("Shop", Some(ann.id)).await.unwrap();
    let now = t0();
    let week = now + Duration::days(7);
    let (viewer, token) = meta
        .create_invite(p.id, " Bob@Example.com ", Role::Viewer, ann.id, week, now)
        .await
        .unwrap();
    assert_eq!(viewer.email, "bob@example.com");
    assert_eq!(viewer.role, Role::Viewer);
    let (_, expiring) = meta
        .create_invite(
            p.id,
            "carol@example.com",
            Role::Admin,
            ann.id,
            now + Duration::hours(1),
            now,
        )
        .await
        .unwrap();
    let (revoked, revoked_token) = meta
        .create_invite(p.id, "dan@example.com", Role::Admin, ann.id, week, now)
        .await
        .unwrap();
    assert_eq!(meta.pending_invites(p.id, now).await.unwrap().len(), 3);
    meta.revoke_invite(p.id, revoked.id).await.unwrap();
    assert!(matches!(
        meta.revoke_invite(p.id, revoked.id).await,
        Err(MetaError::NotFound)
    ));
    assert_eq!(meta.invite(&revoked_token, now).await.unwrap(), None);
    // Expired invitations are neither pending nor usable.
    let later = now + Duration::hours(2);
    assert_eq!(
        meta.pending_invites(p.id, later).await.unwrap(),
        std::slice::from_ref(&viewer)
    );
    assert_eq!(meta.invite(&expiring, later).await.unwrap(), None);
    assert!(matches!(
        meta.accept_invite(&expiring, bob.id, later).await,
        Err(MetaError::NotFound)
    ));

    assert_eq!(
        meta.invite(&token, now).await.unwrap(),
        Some(viewer.clone())
    );
    let accepted = meta.accept_invite(&token, bob.id, now).await.unwrap();
    assert_eq!(accepted.id, viewer.id);
    assert_eq!(
        meta.role_of(p.id, bob.id).await.unwrap(),
        Some(Role::Viewer)
    );
    // Spent.
    assert!(matches!(
        meta.accept_invite(&token, bob.id, now).await,
        Err(MetaError::NotFound)
    ));
    assert!(meta.pending_invites(p.id, later).await.unwrap().is_empty());
    // An invitation never lowers a role: Ann, owner, accepting a viewer invite stays owner.
    let (_, to_ann) = meta
        .create_invite(p.id, "ann@example.com", Role::Viewer, ann.id, week, now)
        .await
        .unwrap();
    meta.accept_invite(&to_ann, ann.id, now).await.unwrap();
    assert_eq!(meta.role_of(p.id, ann.id).await.unwrap(), Some(Role::Owner));
    assert!(matches!(
        meta.create_invite(999_999, "x@example.com", Role::Viewer, ann.id, week, now)
            .await,
        Err(MetaError::NotFound)
    ));
}

pub async fn insights_dashboards_and_share_links(meta: &dyn MetadataStore) {
    let ann = user(meta, "ann@example.com").await;
    let shop = meta.create_project("Shop", Some(ann.id)).await.unwrap();
    let blog = meta.create_project("Blog", Some(ann.id)).await.unwrap();
    let now = t0();
    let later = now + Duration::minutes(5);
    let draft = |name: &str, kind: &str| InsightDraft {
        name: name.to_owned(),
        query: serde_json::json!({"kind": kind, "date_from": "-30d", "series": [{"event": "signup"}]}),
    };

    let signups = meta
        .create_insight(shop.id, draft("Signups", "trends"), Some(ann.id), now)
        .await
        .unwrap();
    assert_eq!(signups.project_id, shop.id);
    assert_eq!(signups.name, "Signups");
    assert_eq!(
        signups.query["date_from"], "-30d",
        "the query comes back as saved"
    );
    assert_eq!(signups.created_by, Some(ann.id));
    assert_eq!((signups.created_at, signups.updated_at), (now, now));
    let checkout = meta
        .create_insight(shop.id, draft("Checkout", "funnel"), None, now)
        .await
        .unwrap();
    let theirs = meta
        .create_insight(blog.id, draft("Readers", "trends"), None, now)
        .await
        .unwrap();
    assert!(matches!(
        meta.create_insight(9999, draft("Nowhere", "trends"), None, now)
            .await,
        Err(MetaError::NotFound)
    ));

    // Newest first, and only the project's own.
    let names: Vec<String> = meta
        .insights(shop.id)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["Checkout", "Signups"]);
    assert!(
        meta.insight(shop.id, theirs.id).await.unwrap().is_none(),
        "another project's insight is not found"
    );
    assert_eq!(
        meta.insight(shop.id, signups.id).await.unwrap().as_ref(),
        Some(&signups)
    );

    let renamed = meta
        .update_insight(shop.id, signups.id, draft("Daily signups", "trends"), later)
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.created_at,
            renamed.updated_at
        ),
        ("Daily signups", now, later)
    );
    assert!(matches!(
        meta.update_insight(shop.id, theirs.id, draft("Stolen", "trends"), later)
            .await,
        Err(MetaError::NotFound)
    ));
    assert_eq!(
        meta.insight(blog.id, theirs.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Readers"
    );

    // Dashboards: ordered tiles of the project's own insights, each once.
    let board = meta
        .create_dashboard(shop.id, "Weekly", Some(ann.id), now)
        .await
        .unwrap();
    assert!(board.tiles.is_empty() && board.shared_at.is_none());
    let board = meta
        .update_dashboard(shop.id, board.id, None, Some(&[checkout.id, signups.id]))
        .await
        .unwrap();
    assert_eq!(board.tiles, [checkout.id, signups.id]);
    assert!(matches!(
        meta.update_dashboard(shop.id, board.id, None, Some(&[signups.id, theirs.id]))
            .await,
        Err(MetaError::Invalid(_))
    ));
    assert!(matches!(
        meta.update_dashboard(shop.id, board.id, None, Some(&[signups.id, signups.id]))
            .await,
        Err(MetaError::Invalid(_))
    ));
    assert_eq!(
        meta.dashboard(shop.id, board.id)
            .await
            .unwrap()
            .unwrap()
            .tiles,
        [checkout.id, signups.id],
        "a refused change leaves the tiles as they were"
    );
    let board = meta
        .update_dashboard(
            shop.id,
            board.id,
            Some("Monday"),
            Some(&[signups.id, checkout.id]),
        )
        .await
        .unwrap();
    assert_eq!(
        (board.name.as_str(), board.tiles.as_slice()),
        ("Monday", &[signups.id, checkout.id][..])
    );
    assert!(meta.dashboard(blog.id, board.id).await.unwrap().is_none());
    assert!(matches!(
        meta.update_dashboard(blog.id, board.id, Some("Taken"), None)
            .await,
        Err(MetaError::NotFound)
    ));
    let other = meta
        .create_dashboard(shop.id, "Acquisition", None, now)
        .await
        .unwrap();
    let listed: Vec<(String, usize)> = meta
        .dashboards(shop.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.name, d.tiles.len()))
        .collect();
    assert_eq!(
        listed,
        [("Acquisition".to_owned(), 0), ("Monday".to_owned(), 2)]
    );

    // Deleting an insight takes it off the dashboard.
    meta.delete_insight(shop.id, checkout.id).await.unwrap();
    assert!(matches!(
        meta.delete_insight(shop.id, checkout.id).await,
        Err(MetaError::NotFound)
    ));
    assert!(matches!(
        meta.delete_insight(shop.id, theirs.id).await,
        Err(MetaError::NotFound)
    ));
    assert_eq!(
        meta.dashboard(shop.id, board.id)
            .await
            .unwrap()
            .unwrap()
            .tiles,
        [signups.id]
    );

    // Share links: the token opens that dashboard only; a new link ends the old one.
    let first = meta.share_dashboard(shop.id, board.id, now).await.unwrap();
    let opened = meta
        .shared_dashboard(&first)
        .await
        .unwrap()
        .expect("the link opens");
    assert_eq!(
        (opened.id, opened.project_id, opened.shared_at),
        (board.id, shop.id, Some(now))
    );
    assert_eq!(opened.tiles, [signups.id]);
    let second = meta
        .share_dashboard(shop.id, board.id, later)
        .await
        .unwrap();
    assert_ne!(first, second);
    assert!(
        meta.shared_dashboard(&first).await.unwrap().is_none(),
        "the replaced link is dead"
    );
    assert_eq!(
        meta.shared_dashboard(&second).await.unwrap().unwrap().id,
        board.id
    );
    assert!(meta
        .shared_dashboard("not-a-token")
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        meta.share_dashboard(blog.id, board.id, now).await,
        Err(MetaError::NotFound)
    ));
    meta.unshare_dashboard(shop.id, board.id).await.unwrap();
    assert!(
        meta.shared_dashboard(&second).await.unwrap().is_none(),
        "a revoked link is dead"
    );
    assert!(meta
        .dashboard(shop.id, board.id)
        .await
        .unwrap()
        .unwrap()
        .shared_at
        .is_none());

    meta.delete_dashboard(shop.id, other.id).await.unwrap();
    assert!(matches!(
        meta.delete_dashboard(blog.id, board.id).await,
        Err(MetaError::NotFound)
    ));
    assert_eq!(meta.dashboards(shop.id).await.unwrap().len(), 1);

    // Deleting the project takes its insights and dashboards along.
    let link = meta.share_dashboard(shop.id, board.id, now).await.unwrap();
    meta.delete_project(shop.id).await.unwrap();
    assert!(meta.shared_dashboard(&link).await.unwrap().is_none());
    assert!(meta.insights(shop.id).await.unwrap().is_empty());
    assert_eq!(meta.insights(blog.id).await.unwrap().len(), 1);
}

pub async fn users_change_their_name(meta: &dyn MetadataStore) {
    let ann = user(meta, "ann@example.com").await;
    let bob = user(meta, "bob@example.com").await;
    meta.set_user_name(ann.id, "Ann Example").await.unwrap();
    assert_eq!(
        meta.user(ann.id).await.unwrap().unwrap().name,
        "Ann Example"
    );
    assert_eq!(
        meta.user(bob.id).await.unwrap().unwrap().name,
        "bob",
        "only Ann's changed"
    );
    assert!(matches!(
        meta.set_user_name(999_999, "Nobody").await,
        Err(MetaError::NotFound)
    ));
}

pub async fn the_first_shared_secret_stays(meta: &dyn MetadataStore) {
    let first = meta.shared_secret("ip-hash", &[1; 32]).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    // A second node offering its own candidate gets the first one back.
    let again = meta.shared_secret("ip-hash", &[2; 32]).await.unwrap();
    assert_eq!(again, vec![1; 32]);
    let other = meta.shared_secret("other", &[3, 4]).await.unwrap();
    assert_eq!(other, vec![3, 4]);
}

/// Instantiates every conformance check as a `#[tokio::test]`, each on a store
/// made by the async expression `$make`, which yields `(guard, store)`: a fresh,
/// empty store each time, and whatever must live as long as it (a temp dir).
#[macro_export]
macro_rules! metadata_conformance_suite {
    ($make:expr) => {
        $crate::metadata_conformance_suite!(@tests $make;
            projects_members_and_roles,
            ingest_keys_authenticate_and_rotate_with_grace,
            personal_keys_scope_use_and_revocation,
            users_setup_emails_and_lockout,
            sessions_rotate_detect_reuse_and_revoke,
            invites_are_spent_once_and_expire,
            insights_dashboards_and_share_links,
            users_change_their_name,
            the_first_shared_secret_stays,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (_guard, store) = $make.await;
                $crate::conformance::$name(&store).await;
            }
        )*
    };
}
