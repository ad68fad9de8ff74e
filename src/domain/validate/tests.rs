use serde_json::json;

use super::*;

const DOCKER: Context = Context {
    deploys_images: true,
};

fn parse(kind: ResourceKind, body: Value) -> Result<ResourceSpec, Vec<FieldError>> {
    let Value::Object(map) = body else {
        panic!("test bodies are objects")
    };
    parse_spec(kind, &map, DOCKER)
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

fn weather_tool() -> Value {
    json!({
        "name": "weather",
        "imageName": "tool-example",
        "imageVersion": "1.0.0",
        "toolDefinition": {
            "tool": {
                "name": "weather",
                "description": "Weather by location",
                "inputSchema": {"type": "object", "properties": {"location": {"type": "string"}}}
            }
        }
    })
}

#[test]
fn adapter_defaults_are_filled_in() {
    let spec = parse(
        ResourceKind::Adapter,
        json!({"name": "demo", "imageName": "mcp-example"}),
    )
    .expect("valid");
    assert_eq!(spec.image_version.as_deref(), Some("latest"));
    assert_eq!(spec.port, Some(8000));
    assert_eq!(spec.path.as_deref(), Some("/mcp"));
    assert_eq!(spec.replica_count, 1);
    assert!(spec.tool_definition.is_none());
}

#[test]
fn tool_defaults_are_filled_in() {
    let spec = parse(ResourceKind::Tool, weather_tool()).expect("valid");
    let def = spec.tool_definition.clone().expect("tool definition");
    assert_eq!((def.port, def.path.as_str()), (8000, "/score"));
    assert_eq!(spec.port, None);
    assert_eq!(spec.container_port(), 8000);
    assert_eq!(spec.endpoint_path(), "/score");
}

#[test]
fn every_invalid_field_is_named_at_once() {
    let errors = parse(
        ResourceKind::Adapter,
        json!({
            "name": "Bad_Name",
            "imageName": "http://evil/x",
            "imageVersion": "../up",
            "replicaCount": 65,
            "port": 0,
            "path": "no-slash",
            "environmentVariables": {"1BAD": "x", "GOOD": 3},
            "requiredRoles": ["a,b"],
            "replicacount": 2
        }),
    )
    .unwrap_err();
    assert_eq!(
        fields(&errors),
        vec![
            "replicacount",
            "port",
            "environmentVariables.GOOD",
            "replicaCount",
            "name",
            "imageName",
            "imageVersion",
            "path",
            "environmentVariables.1BAD",
            "requiredRoles[0]",
        ]
    );
}

#[test]
fn image_xor_url() {
    let errors = parse(ResourceKind::Adapter, json!({"name": "a"})).unwrap_err();
    assert_eq!(fields(&errors), vec!["imageName"]);
    let errors = parse(
        ResourceKind::Adapter,
        json!({"name": "a", "imageName": "x", "url": "http://127.0.0.1:1/mcp"}),
    )
    .unwrap_err();
    assert_eq!(fields(&errors), vec!["url"]);
}

#[test]
fn url_resources_refuse_container_settings() {
    let errors = parse(
        ResourceKind::Adapter,
        json!({"name": "a", "url": "http://127.0.0.1:1/mcp", "replicaCount": 2,
               "environmentVariables": {"A": "1"}, "port": 9000}),
    )
    .unwrap_err();
    assert_eq!(
        fields(&errors),
        vec!["environmentVariables", "replicaCount", "port"]
    );
    let ok = parse(
        ResourceKind::Adapter,
        json!({"name": "a", "url": "https://mcp.example.com/mcp", "replicaCount": 1}),
    )
    .expect("valid");
    assert_eq!((ok.port, ok.path), (None, None));
}

#[test]
fn none_runtime_refuses_images_with_a_reason() {
    let Value::Object(body) = json!({"name": "a", "imageName": "x"}) else {
        unreachable!()
    };
    let errors = parse_spec(
        ResourceKind::Adapter,
        &body,
        Context {
            deploys_images: false,
        },
    )
    .unwrap_err();
    assert_eq!(fields(&errors), vec!["imageName"]);
    assert!(errors[0].message.contains("runtime.kind = \"none\""));
}

#[test]
fn tool_rules() {
    let mut body = weather_tool();
    body["toolDefinition"]["tool"]["name"] = json!("other");
    let errors = parse(ResourceKind::Tool, body).unwrap_err();
    assert_eq!(fields(&errors), vec!["toolDefinition.tool.name"]);

    let mut body = weather_tool();
    body["toolDefinition"]["tool"]["inputSchema"] = json!({"type": "string"});
    body["toolDefinition"]["port"] = json!(70000);
    body["port"] = json!(1);
    let errors = parse(ResourceKind::Tool, body).unwrap_err();
    assert_eq!(
        fields(&errors),
        vec![
            "port",
            "toolDefinition.port",
            "toolDefinition.tool.inputSchema"
        ]
    );

    let mut body = weather_tool();
    body.as_object_mut()
        .expect("object")
        .remove("toolDefinition");
    let errors = parse(ResourceKind::Tool, body).unwrap_err();
    assert_eq!(fields(&errors), vec!["toolDefinition"]);

    let errors = parse(
        ResourceKind::Adapter,
        json!({"name": "a", "imageName": "x", "toolDefinition": {}}),
    )
    .unwrap_err();
    assert_eq!(fields(&errors), vec!["toolDefinition"]);
}

#[test]
fn server_set_fields_are_ignored() {
    let spec = parse(
        ResourceKind::Adapter,
        json!({"name": "a", "imageName": "x", "id": "a", "createdBy": "mallory",
               "createdAt": "x", "lastUpdatedAt": "y", "source": "config"}),
    )
    .expect("valid");
    assert_eq!(spec.name, "a");
}

#[test]
fn names() {
    for good in ["a", "a-b", "0", "x".repeat(63).as_str()] {
        assert!(check_name(good).is_ok(), "{good}");
    }
    for bad in ["", "-a", "a-", "A", "a_b", "a.b", "x".repeat(64).as_str()] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
    assert!(check_tool_name("get_weather.v2-x").is_ok());
    assert!(check_tool_name("has space").is_err());
    assert!(check_tool_name(&"t".repeat(129)).is_err());
}

#[test]
fn image_references() {
    for good in [
        "mcp-example",
        "team/server",
        "localhost:5000/server",
        "registry.example.com/a/b_c",
        "a__b",
        "a--b",
    ] {
        assert!(check_image_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "Upper",
        "https://registry/x",
        "a/../b",
        "x:1.0",
        "x@sha256:abc",
        "-x",
        "a//b",
        "a b",
    ] {
        assert!(check_image_name(bad).is_err(), "{bad}");
    }
    for good in [
        "1.0.0",
        "latest",
        "_x",
        &format!("sha256:{}", "a".repeat(64)),
    ] {
        assert!(check_image_version(good).is_ok(), "{good}");
    }
    for bad in ["", ".x", "-x", "a/b", "sha256:xyz", &"v".repeat(129)] {
        assert!(check_image_version(bad).is_err(), "{bad}");
    }
}

#[test]
fn urls_and_paths() {
    assert!(check_url("http://127.0.0.1:9000/mcp").is_ok());
    assert!(check_url("https://example.com").is_ok());
    for bad in [
        "ftp://x",
        "/relative",
        "http://user:pw@host/",
        "localhost:80",
        "http://h:0/",
    ] {
        assert!(check_url(bad).is_err(), "{bad}");
    }
    assert!(check_path("/mcp").is_ok());
    assert!(check_path("/a/b-c_d.e~f").is_ok());
    for bad in ["mcp", "/a/../b", "/a b", "/a?b", "/%2e"] {
        assert!(check_path(bad).is_err(), "{bad}");
    }
    assert!(check_env_name("_A1").is_ok());
    assert!(check_env_name("1A").is_err());
    assert!(check_env_name("A-B").is_err());
}

#[test]
fn null_is_absent_and_required_members_stay_required() {
    // A null name, image/url pair, toolDefinition or tool is missing, not a way around the rule.
    let errors = parse(
        ResourceKind::Adapter,
        json!({"name": null, "imageName": null, "url": null}),
    )
    .unwrap_err();
    assert_eq!(fields(&errors), vec!["name", "imageName"]);
    let mut body = weather_tool();
    body["toolDefinition"] = Value::Null;
    let errors = parse(ResourceKind::Tool, body).unwrap_err();
    assert_eq!(fields(&errors), vec!["toolDefinition"]);
    let mut body = weather_tool();
    body["toolDefinition"]["tool"] = Value::Null;
    let errors = parse(ResourceKind::Tool, body).unwrap_err();
    assert_eq!(fields(&errors), vec!["toolDefinition.tool"]);
    // A tool's top-level port and path are absent when null, as everywhere else.
    let mut body = weather_tool();
    body["port"] = Value::Null;
    body["path"] = Value::Null;
    assert!(parse(ResourceKind::Tool, body).is_ok());
}

#[test]
fn whole_numbers_are_integers() {
    // JSON Schema's integer: 2.0 is 2.
    let spec = parse(
        ResourceKind::Adapter,
        json!({"name": "a", "imageName": "x", "replicaCount": 2.0, "port": 8080.0}),
    )
    .expect("valid");
    assert_eq!((spec.replica_count, spec.port), (2, Some(8080)));
    let errors = parse(
        ResourceKind::Adapter,
        json!({"name": "a", "imageName": "x", "replicaCount": 1.5, "port": -0.5}),
    )
    .unwrap_err();
    assert_eq!(fields(&errors), vec!["port", "replicaCount"]);
}

#[test]
fn a_tool_name_left_out_is_the_resource_name() {
    let mut body = weather_tool();
    body["toolDefinition"]["tool"]
        .as_object_mut()
        .expect("object")
        .remove("name");
    let spec = parse(ResourceKind::Tool, body).expect("valid");
    let tool = spec.tool_definition.expect("tool definition").tool;
    assert_eq!(tool["name"], json!("weather"));
}

#[test]
fn url_grammar() {
    for good in [
        "HTTP://Example.COM:443/a/b?c=d&e=%2F",
        "http://[::1]:8080/mcp",
        "http://[::ffff:127.0.0.1]/",
        "https://a_b-c.d/~x/(y)*;z=@:",
    ] {
        assert!(check_url(good).is_ok(), "{good}");
    }
    for (bad, says) in [
        ("http://h/#top", "fragment"),
        ("http://h:080/", "port"),
        ("http://h:65536/", "port"),
        ("http://h/a b", "URL characters"),
        ("http://h/%zz", "URL characters"),
        ("http://[1:2]/", "http"),
        ("http://h:+80/", "port"),
    ] {
        let err = check_url(bad).unwrap_err();
        assert!(err.contains(says), "{bad}: {err}");
    }
    assert!(check_url(&format!("http://h/{}", "a".repeat(2048))).is_err());
}

#[test]
fn federation_fields_are_for_adapters_and_checked() {
    let spec = parse(
        ResourceKind::Adapter,
        json!({"name": "git", "url": "https://git.example.com/mcp",
               "federatedTools": ["git_*", "status"]}),
    )
    .expect("valid");
    assert_eq!(spec.federate, Some(true), "federated unless opted out");
    assert!(spec.federates() && spec.federates_tool("git_log") && !spec.federates_tool("rm"));
    let out = parse(
        ResourceKind::Adapter,
        json!({"name": "git", "url": "https://git.example.com/mcp", "federate": false}),
    )
    .expect("valid");
    assert!(!out.federates());

    let errors = parse(
        ResourceKind::Adapter,
        json!({"name": "git", "url": "https://git.example.com/mcp", "federate": "yes",
               "federatedTools": ["ok", "", "has space", 7]}),
    )
    .expect_err("invalid");
    assert_eq!(
        fields(&errors),
        vec![
            "federate",
            "federatedTools[3]",
            "federatedTools[1]",
            "federatedTools[2]"
        ]
    );
    let too_many: Vec<String> = (0..=MAX_FEDERATED_TOOLS).map(|i| format!("t{i}")).collect();
    let errors = parse(
        ResourceKind::Adapter,
        json!({"name": "git", "url": "https://git.example.com/mcp", "federatedTools": too_many}),
    )
    .expect_err("too many");
    assert_eq!(fields(&errors), vec!["federatedTools"]);

    let mut tool = weather_tool();
    tool["federate"] = json!(true);
    tool["federatedTools"] = json!(["*"]);
    let errors = parse(ResourceKind::Tool, tool).expect_err("adapters only");
    assert_eq!(fields(&errors), vec!["federate", "federatedTools"]);
    assert!(errors[0].message.contains("adapters only"), "{errors:?}");
}
