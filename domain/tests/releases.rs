//! The release use cases on in-memory fakes: who may download what (perpetual
//! fallback, revoked licenses, versions, channels), the release lifecycle and
//! the update offers.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;

use tessera_domain::audit::{Actor, AuditFilter, AuditLog};
use tessera_domain::catalog::{Catalog, Downloads, Product, Tier};
use tessera_domain::issuance::{IssuanceService, MintLicense};
use tessera_domain::license::{CustomerName, EmailAddress, License};
use tessera_domain::page::PageRequest;
use tessera_domain::release::entitlement::Refusal;
use tessera_domain::release::*;
use tessera_memory::{InMemoryArtifactStore, InMemorySigner, InMemoryStore, ManualClock, SeededRandomSource};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00:00 UTC);

struct World {
    releases: ReleaseService,
    issuance: IssuanceService,
    store: Arc<InMemoryStore>,
    files: Arc<InMemoryArtifactStore>,
    clock: Arc<ManualClock>,
    staging: tempfile::TempDir,
}

fn tier(slug: &str, duration_days: Option<u32>, downloads: Downloads, app_versions: Option<Vec<u32>>) -> Tier {
    Tier { name: None, slug: slug.into(), features: vec![], seats: 2, duration_days, app_versions, downloads }
}

fn world() -> World {
    let fallback = Downloads { channels: None, perpetual_fallback: true };
    let stable_only = Downloads { channels: Some(vec!["stable".into()]), perpetual_fallback: false };
    let catalog = Arc::new(
        Catalog::new(vec![Product {
            slug: "datatools".into(),
            name: "DataTools".into(),
            key_prefix: "DT1".into(),
            renew_url: None,
            tiers: BTreeMap::from([
                ("core".into(), tier("core", Some(365), fallback, Some(vec![1, 2]))),
                ("monthly".into(), tier("monthly", Some(30), Downloads::default(), None)),
                ("stable".into(), tier("stable", None, stable_only, None)),
            ]),
        }])
        .unwrap(),
    );
    let store = Arc::new(InMemoryStore::new());
    let files = Arc::new(InMemoryArtifactStore::new());
    let clock = Arc::new(ManualClock::at(NOW));
    let random = Arc::new(SeededRandomSource::new(11));
    let issuance = IssuanceService::new(
        store.clone(),
        Arc::new(InMemorySigner),
        clock.clone(),
        random.clone(),
        catalog.clone(),
        "tessera-test",
    );
    let links = DownloadLinks::new(
        Arc::new(InMemorySigner),
        Arc::new(InMemorySigner),
        clock.clone(),
        "tessera".into(),
        LinkLifetimes::default(),
    );
    let releases = ReleaseService::new(ReleaseDeps {
        releases: store.clone(),
        licenses: store.clone(),
        store: files.clone(),
        catalog,
        clock: clock.clone(),
        random,
        links,
    });
    World { releases, issuance, store, files, clock, staging: tempfile::tempdir().unwrap() }
}

impl World {
    async fn license(&self, tier: &str) -> License {
        let request = MintLicense::new(
            "datatools",
            tier,
            CustomerName::parse("Jane Doe").unwrap(),
            EmailAddress::parse("jane@example.com").unwrap(),
        );
        self.issuance.mint(request, Actor::Admin).await.unwrap().license
    }

    /// What the shell does for an upload: plan, store the bytes, record.
    async fn upload(
        &self,
        release: &Release,
        filename: &str,
        platform: &str,
        bytes: &[u8],
    ) -> Result<Artifact, UploadError> {
        let plan = self
            .releases
            .plan_upload(
                release.id,
                FileName::parse(filename).unwrap(),
                Platform::parse(platform).unwrap(),
                Arch::parse("universal").unwrap(),
                None,
            )
            .await?;
        let staged = self.staging.path().join(plan.artifact_id.to_string());
        std::fs::write(&staged, bytes).unwrap();
        self.files.put_file(&plan.storage_key, &staged).await?;
        let stored = StoredFile {
            size: bytes.len() as u64,
            sha256: format!("{:064}", bytes.len()),
            signature: "c2ln".into(),
            signature_kid: "test".into(),
        };
        self.releases.record_upload(plan, stored, Actor::Admin).await
    }

    /// A release of `version` with one macOS file, published now.
    async fn published(&self, version: &str, channel: &str) -> (Release, Artifact) {
        let release = self.draft(version, channel).await;
        let artifact =
            self.upload(&release, &format!("DataTools-{version}.dmg"), "macos", version.as_bytes()).await.unwrap();
        let release = self.releases.publish(release.id, Actor::Admin).await.unwrap().release;
        (release, artifact)
    }

    async fn draft(&self, version: &str, channel: &str) -> Release {
        let request = CreateRelease {
            product: "datatools".into(),
            version: Version::parse(version).unwrap(),
            channel: Some(Channel::parse(channel).unwrap()),
            notes: Some(format!("What is new in {version}")),
        };
        self.releases.create(request, Actor::Admin).await.unwrap()
    }
}

fn macos() -> OfferQuery {
    OfferQuery {
        product: "datatools".into(),
        platform: Some(Platform::parse("macos").unwrap()),
        arch: Some(Arch::parse("aarch64").unwrap()),
        channel: None,
    }
}

fn refusal(error: OfferError) -> Refusal {
    match error {
        OfferError::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_expired_license_with_perpetual_fallback_keeps_what_was_released_while_it_was_valid() {
    block_on(async {
        let world = world();
        let license = world.license("core").await;
        world.clock.advance(Duration::days(10));
        let (old, old_file) = world.published("1.0.0", "stable").await;
        world.clock.set(NOW + Duration::days(400));
        let (_new, new_file) = world.published("1.5.0", "stable").await;

        let offer = world.releases.latest(&license.key, &macos()).await.unwrap();
        assert_eq!(offer.release.id, old.id, "the newest release published before the license expired");
        assert_eq!(offer.artifacts, vec![old_file.clone()], "the universal file serves aarch64");
        let refused = world.releases.authorize_download(&license.key, new_file.id).await.unwrap_err();
        assert_eq!(refusal(refused), Refusal::Expired, "newer versions are paid for");
        let granted = world.releases.authorize_download(&license.key, old_file.id).await.unwrap();
        assert_eq!(granted.id, old_file.id);
        let link = world.releases.link(&license.key, &granted, LinkUse::Direct).unwrap();
        assert_eq!(world.releases.open_download(&link.token, old_file.id, true).await.unwrap().id, old_file.id);
        assert_eq!(world.releases.open_download(&link.token, old_file.id, false).await.unwrap().id, old_file.id);
        assert!(
            matches!(
                world.releases.open_download(&link.token, new_file.id, true).await,
                Err(DownloadError::Link(DownloadLinkError::Invalid(_)))
            ),
            "a link opens only the file it names, and is not counted for another"
        );
        let counted = world.store.find_artifact(old_file.id).await.unwrap().unwrap();
        assert_eq!(counted.downloads, 1, "a download from the first byte is counted, a resumed one is not");
        let filter = AuditFilter { entity_id: Some(license.key.to_string()), ..Default::default() };
        let audit = world.store.list_audit(&filter, &PageRequest::first(10)).await.unwrap().items;
        assert_eq!((audit[0].action.as_str(), audit[0].actor.clone()), ("artifact.downloaded", Actor::Buyer));

        // The same rule for an updater: 1.0.0 is as far as this license goes.
        let current = Version::parse("1.0.0").unwrap();
        assert_eq!(world.releases.update_for(&license.key, &macos(), &current).await.unwrap(), None);
        let older = Version::parse("0.9.0").unwrap();
        let update = world.releases.update_for(&license.key, &macos(), &older).await.unwrap().unwrap();
        assert_eq!(update.release.version.to_string(), "1.0.0");
    });
}

#[test]
fn without_fallback_an_expired_license_gets_nothing_and_a_revoked_one_never() {
    block_on(async {
        let world = world();
        let monthly = world.license("monthly").await;
        let core = world.license("core").await;
        let (_, file) = world.published("1.0.0", "stable").await;
        let allowed = world.releases.authorize_download(&monthly.key, file.id).await.unwrap();
        let link = world.releases.link(&monthly.key, &allowed, LinkUse::Feed).unwrap();
        world.releases.open_download(&link.token, file.id, true).await.unwrap();
        world.clock.advance(Duration::days(31));
        assert!(
            matches!(
                world.releases.open_download(&link.token, file.id, true).await,
                Err(DownloadError::Link(DownloadLinkError::Expired))
            ),
            "a feed's link lasts hours, not a month"
        );
        let expired = world.releases.latest(&monthly.key, &macos()).await.unwrap_err();
        assert_eq!(refusal(expired), Refusal::Expired);
        world.issuance.revoke(&core.key, "chargeback", Actor::Admin).await.unwrap();
        let revoked = world.releases.authorize_download(&core.key, file.id).await.unwrap_err();
        assert_eq!(refusal(revoked), Refusal::Revoked);
        let core_link = world.releases.link(&core.key, &file, LinkUse::Direct).unwrap();
        assert!(
            matches!(
                world.releases.open_download(&core_link.token, file.id, true).await,
                Err(DownloadError::Refused(Refusal::Revoked))
            ),
            "a link made before a revoke stops working"
        );
        assert_eq!(world.store.find_artifact(file.id).await.unwrap().unwrap().downloads, 1, "refusals are not counted");
    });
}

#[test]
fn versions_and_channels_follow_the_tier() {
    block_on(async {
        let world = world();
        let core = world.license("core").await;
        let stable_only = world.license("stable").await;
        let (two, _) = world.published("2.4.1", "stable").await;
        let (_, three_file) = world.published("3.0.0", "stable").await;
        let (_, beta_file) = world.published("3.1.0-beta.1", "beta").await;

        let offer = world.releases.latest(&core.key, &macos()).await.unwrap();
        assert_eq!(offer.release.id, two.id, "core covers majors 1 and 2, so 3.0.0 is skipped");
        let refused = world.releases.authorize_download(&core.key, three_file.id).await.unwrap_err();
        assert_eq!(refusal(refused), Refusal::VersionMismatch);

        let beta = OfferQuery { channel: Some(Channel::parse("beta").unwrap()), ..macos() };
        assert_eq!(
            refusal(world.releases.latest(&stable_only.key, &beta).await.unwrap_err()),
            Refusal::ChannelNotIncluded
        );
        assert_eq!(
            refusal(world.releases.authorize_download(&stable_only.key, beta_file.id).await.unwrap_err()),
            Refusal::ChannelNotIncluded
        );
        let newest_stable = world.releases.latest(&stable_only.key, &macos()).await.unwrap();
        assert_eq!(newest_stable.release.version.to_string(), "3.0.0", "stable only: the beta is not offered");

        let windows = OfferQuery { platform: Some(Platform::parse("windows").unwrap()), ..macos() };
        assert!(matches!(world.releases.latest(&stable_only.key, &windows).await, Err(OfferError::NothingPublished)));
        let all = world.releases.usable(&stable_only.key, &macos()).await.unwrap();
        let versions: Vec<String> = all.iter().map(|offer| offer.release.version.to_string()).collect();
        assert_eq!(versions, ["3.0.0", "2.4.1"], "newest first, for an appcast");
    });
}

#[test]
fn a_release_is_drafted_filled_published_and_yanked() {
    block_on(async {
        let world = world();
        let license = world.license("stable").await;
        let (first, _) = world.published("1.0.0", "stable").await;
        let draft = world.draft("1.1.0", "stable").await;
        assert!(matches!(world.releases.publish(draft.id, Actor::Admin).await, Err(ChangeReleaseError::NoArtifacts)));
        let taken = CreateRelease {
            product: "datatools".into(),
            version: Version::parse("v1.1.0").unwrap(),
            channel: None,
            notes: None,
        };
        assert!(matches!(world.releases.create(taken, Actor::Admin).await, Err(CreateError::VersionTaken { .. })));

        let unsigned = world
            .releases
            .plan_upload(
                draft.id,
                FileName::parse("DataTools.zip").unwrap(),
                Platform::any(),
                Arch::any(),
                Some("line one\nline two".into()),
            )
            .await;
        assert!(matches!(unsigned, Err(UploadError::InvalidUpdaterSignature)), "refused before any byte is read");
        let once = world.upload(&draft, "DataTools.zip", "any", b"first try").await.unwrap();
        let again = world.upload(&draft, "DataTools.zip", "any", b"second try").await.unwrap();
        assert_eq!(world.files.keys().len(), 2, "1.0.0's file and the re-upload: the replaced bytes are gone");
        assert!(!world.files.keys().contains(&once.storage_key));
        let published = world.releases.publish(draft.id, Actor::Admin).await.unwrap();
        assert_eq!(published.artifacts, vec![again.clone()]);
        assert_eq!(published.release.published_at, Some(NOW));
        let late = world.upload(&draft, "late.zip", "any", b"late").await.unwrap_err();
        assert!(matches!(late, UploadError::NotDraft(ReleaseStatus::Published)), "{late:?}");
        assert!(matches!(
            world.releases.publish(draft.id, Actor::Admin).await,
            Err(ChangeReleaseError::WrongStatus(ReleaseStatus::Published))
        ));

        assert_eq!(world.releases.latest(&license.key, &macos()).await.unwrap().release.id, draft.id);
        let link = world.releases.link(&license.key, &again, LinkUse::Direct).unwrap();
        world.releases.yank(draft.id, Actor::Admin).await.unwrap();
        assert_eq!(world.releases.latest(&license.key, &macos()).await.unwrap().release.id, first.id, "yanked: gone");
        assert!(
            matches!(world.releases.open_download(&link.token, again.id, true).await, Err(DownloadError::Gone)),
            "a yanked release's links stop working"
        );
        let forged = link.token.replace("DataTools", "Other");
        assert!(matches!(
            world.releases.open_download(&format!("{forged}x"), again.id, true).await,
            Err(DownloadError::Link(DownloadLinkError::Invalid(_)))
        ));
        assert!(matches!(
            world.releases.yank(draft.id, Actor::Admin).await,
            Err(ChangeReleaseError::WrongStatus(ReleaseStatus::Yanked))
        ));
        let other = world.releases.latest(&license.key, &OfferQuery { product: "sampler".into(), ..macos() }).await;
        assert_eq!(refusal(other.unwrap_err()), Refusal::NotOffered, "another product's feed");
    });
}

#[test]
fn versions_order_by_semver_precedence() {
    let parse = |text| Version::parse(text).unwrap();
    let mut versions = [parse("1.10.0"), parse("1.2.0"), parse("1.10.0-rc.1"), parse("1.10.0-beta.2"), parse("v0.9.9")];
    versions.sort();
    let texts: Vec<String> = versions.iter().map(ToString::to_string).collect();
    assert_eq!(texts, ["0.9.9", "1.2.0", "1.10.0-beta.2", "1.10.0-rc.1", "1.10.0"]);
    assert!(Version::parse("1.2").is_err() && Version::parse("latest").is_err());
    assert!(FileName::parse("../etc/passwd").is_err() && FileName::parse("a\"b.zip").is_err());
    assert_eq!(FileName::parse("DataTools 2.dmg").unwrap().content_type(), "application/x-apple-diskimage");
}
