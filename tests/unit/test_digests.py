"""Image digests (issue 22 item 2): reading the kubelet's imageIDs, the record's keys, a moved tag, pinning."""

from kubectl_rollback import digests

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


def pod(*image_ids, name="app"):
    return {"status": {"containerStatuses": [{"name": name, "imageID": i} for i in image_ids]}}


def template(image, name="app"):
    return {"spec": {"containers": [{"name": name, "image": image}]}}


def test_runtime_prefixes_are_stripped_and_an_image_without_a_repository_digest_has_none():
    assert digests.repository_digest(f"docker-pullable://example.test/web@{OLD}") == f"example.test/web@{OLD}"
    assert digests.repository_digest(f"example.test/web@{OLD}") == f"example.test/web@{OLD}"  # containerd
    assert digests.repository_digest(OLD) is None  # an image built on the node
    assert digests.repository_digest("") is None and digests.repository_digest(None) is None


def test_pods_that_agree_give_the_digest_and_the_others_a_note():
    agree = [pod(f"docker-pullable://r/web@{OLD}"), pod(f"r/web@{OLD}")]
    assert digests.from_pods(["app"], agree) == ({"app": f"r/web@{OLD}"}, [])
    disagree = [pod(f"r/web@{OLD}"), pod(f"r/web@{NEW}")]
    assert digests.from_pods(["app"], disagree) == ({}, ["container app: its pods run 2 different digests"])
    partly = [pod(f"r/web@{OLD}"), pod(OLD)]
    assert digests.from_pods(["app"], partly) == ({}, ["container app: some of its pods report no repository digest"])
    assert digests.from_pods(["app"], [pod(OLD)]) == ({}, ["container app: no pod reports a repository digest"])
    # a pod that has not pulled its image yet reports no imageID: left out, not taken for a disagreement
    assert digests.from_pods(["app"], [pod(f"r/web@{OLD}"), pod("")]) == ({"app": f"r/web@{OLD}"}, [])
    assert digests.from_pods(["app"], [pod("")]) == ({}, ["container app: no pod has started it yet"])
    assert digests.from_pods(["app"], []) == ({}, ["container app: no pod has started it yet"])


def test_the_keys_round_trip_and_none_removes_them():
    written = digests.digest_annotations({"app": f"r/web@{OLD}"}, [])
    assert written[digests.DIGESTS_NOTE] is None
    assert digests.parse(written) == {"app": f"r/web@{OLD}"}
    assert digests.digest_annotations({}, ["container app: no pod runs"]) == {digests.DIGESTS: None,
                                                                    digests.DIGESTS_NOTE: "container app: no pod runs"}
    assert digests.parse({digests.DIGESTS: '{"app": "not a digest"}'}) == {}
    assert digests.parse({digests.DIGESTS: "[1"}) == {}


def test_a_tag_that_moved_since_the_target_is_named():
    stable = template("r/web:stable")
    moved = digests.tag_moves(stable, {"app": f"r/web@{OLD}"}, [(2, stable, {"app": f"r/web@{NEW}"})])
    assert moved == [f"r/web:stable moved: the target recorded r/web@{OLD}, revision 2 recorded r/web@{NEW}; the "
                     "rollback runs what the tag points at now unless --pin-digests"]
    assert digests.tag_moves(stable, {"app": f"r/web@{OLD}"}, [(2, stable, {"app": f"r/web@{OLD}"})]) == []
    other = template("r/web:other")
    assert digests.tag_moves(stable, {"app": f"r/web@{OLD}"}, [(2, other, {"app": f"r/web@{NEW}"})]) == []


def test_pinning_keeps_the_tag_and_adds_the_recorded_digest():
    pinned = digests.pinned(template("r/web:stable"), {"app": f"r/web@{OLD}"})
    assert pinned["spec"]["containers"][0]["image"] == f"r/web:stable@{OLD}"
    assert digests.pinned(template(f"r/web@{NEW}"), {"app": f"r/web@{OLD}"}) == template(f"r/web@{NEW}")


def test_pods_running_another_digest_than_recorded_are_named_and_agreeing_or_unknown_ones_are_not():
    recorded = {"app": f"r/web@{OLD}"}
    assert digests.drift(recorded, {"app": f"r/web@{NEW}"}) == (
        "its pods run app=sha256:bbbbbbbbbbbb, not the recorded sha256:aaaaaaaaaaaa (the tag moved; "
        "docs/apply-consistency.md)")
    assert digests.drift(recorded, recorded) is None
    assert digests.drift(recorded, {}) is None  # the pods disagree, or none started it: nothing to claim
    assert digests.short(f"r/web@{OLD}") == "sha256:aaaaaaaaaaaa"
