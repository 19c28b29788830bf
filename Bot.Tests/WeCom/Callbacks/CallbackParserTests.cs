using Bot.Core.WeCom.Callbacks;

namespace Bot.Tests.WeCom.Callbacks;

public sealed class CallbackParserTests
{
    private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeSeconds(1403610513);

    private static string Event(string body) =>
        "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        + "<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>" + body + "</xml>";

    private static string ContactEvent(string changeType, string fields) => Event(
        $"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{changeType}]]></ChangeType>{fields}");

    private static string ContactAdded(string externalUserId) => ContactEvent("add_external_contact",
        $"<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[{externalUserId}]]></ExternalUserID>"
        + "<State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>");

    [Test]
    public void Contact_added_parses_with_state_and_welcome_code()
    {
        var parsed = CallbackParser.Parse(ContactAdded("woAJ2GCAAAXtWyujaWJHDDGi0mAAAA"));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_contact/add_external_contact"));
        Assert.That(parsed.Event, Is.EqualTo(new ExternalContactAdded(At, "zhangsan", "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA", "teststate", "WELCOMECODE")));
    }

    [Test]
    public void Contact_added_without_welcome_code_or_state_parses_with_nulls()
    {
        var parsed = CallbackParser.Parse(ContactEvent("add_external_contact",
            "<UserID>zhangsan</UserID><ExternalUserID>wmX</ExternalUserID><State></State>"));
        Assert.That(parsed.Event, Is.EqualTo(new ExternalContactAdded(At, "zhangsan", "wmX", null, null)));
    }

    [Test]
    public void Pretty_printed_samples_from_the_docs_parse_like_compact_ones()
    {
        const string sample = """
            <xml>
              <ToUserName><![CDATA[toUser]]></ToUserName>
              <FromUserName><![CDATA[sys]]></FromUserName>
              <CreateTime>1403610513</CreateTime>
              <MsgType><![CDATA[event]]></MsgType>
              <Event><![CDATA[change_external_contact]]></Event>
              <ChangeType><![CDATA[add_external_contact]]></ChangeType>
              <UserID><![CDATA[zhangsan]]></UserID>
              <ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID>
              <State><![CDATA[teststate]]></State>
              <WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>
            </xml>
            """;
        Assert.That(CallbackParser.Parse(sample).Event,
            Is.EqualTo(CallbackParser.Parse(ContactAdded("woAJ2GCAAAXtWyujaWJHDDGi0mAAAA")).Event));
    }

    [Test]
    public void Contact_edited_parses()
    {
        var parsed = CallbackParser.Parse(ContactEvent("edit_external_contact",
            "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmX]]></ExternalUserID><State><![CDATA[s]]></State>"));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_contact/edit_external_contact"));
        Assert.That(parsed.Event, Is.EqualTo(new ExternalContactEdited(At, "zhangsan", "wmX", "s")));
    }

    [Test]
    public void Contact_half_added_parses()
    {
        var parsed = CallbackParser.Parse(ContactEvent("add_half_external_contact",
            "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmX]]></ExternalUserID><WelcomeCode><![CDATA[W]]></WelcomeCode>"));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_contact/add_half_external_contact"));
        Assert.That(parsed.Event, Is.EqualTo(new ExternalContactHalfAdded(At, "zhangsan", "wmX", null, "W")));
    }

    [Test]
    public void Contact_deleted_by_the_guide_parses_with_its_source()
    {
        var parsed = CallbackParser.Parse(ContactEvent("del_external_contact",
            "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mACH71w]]></ExternalUserID><Source><![CDATA[DELETE_BY_TRANSFER]]></Source>"));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_contact/del_external_contact"));
        Assert.That(parsed.Event, Is.EqualTo(new ExternalContactDeletedByGuide(At, "zhangsan", "woAJ2GCAAAXtWyujaWJHDDGi0mACH71w", "DELETE_BY_TRANSFER")));
    }

    [Test]
    public void Guide_deleted_by_the_customer_parses()
    {
        var parsed = CallbackParser.Parse(ContactEvent("del_follow_user",
            "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmX]]></ExternalUserID>"));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_contact/del_follow_user"));
        Assert.That(parsed.Event, Is.EqualTo(new GuideDeletedByCustomer(At, "zhangsan", "wmX")));
    }

    [Test]
    public void Transfer_failure_parses_with_its_reason()
    {
        var parsed = CallbackParser.Parse(ContactEvent("transfer_fail",
            "<FailReason><![CDATA[customer_refused]]></FailReason><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmX]]></ExternalUserID>"));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_contact/transfer_fail"));
        Assert.That(parsed.Event, Is.EqualTo(new ExternalContactTransferFailed(At, "zhangsan", "wmX", "customer_refused")));
    }

    [TestCase("create", typeof(ExternalChatCreated))]
    [TestCase("dismiss", typeof(ExternalChatDismissed))]
    public void Chat_created_and_dismissed_parse(string changeType, Type expected)
    {
        var parsed = CallbackParser.Parse(Event(
            $"<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[CHAT_ID]]></ChatId><ChangeType><![CDATA[{changeType}]]></ChangeType>"));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_chat/" + changeType));
        Assert.That(parsed.Event, Is.TypeOf(expected));
        Assert.That(parsed.Event, Is.EqualTo(changeType == "create"
            ? new ExternalChatCreated(At, "CHAT_ID")
            : new ExternalChatDismissed(At, "CHAT_ID")));
    }

    [Test]
    public void Chat_update_parses_every_field_of_the_official_sample()
    {
        var parsed = CallbackParser.Parse(Event("""
            <Event><![CDATA[change_external_chat]]></Event>
            <ChatId><![CDATA[CHAT_ID]]></ChatId>
            <ChangeType><![CDATA[update]]></ChangeType>
            <UpdateDetail><![CDATA[add_member]]></UpdateDetail>
            <JoinScene>1</JoinScene>
            <QuitScene>0</QuitScene>
            <MemChangeCnt>10</MemChangeCnt>
            <MemChangeList><Item>Jack</Item><Item><![CDATA[wmRose]]></Item></MemChangeList>
            <LastMemVer>9c3f97c2ada667dfb5f6d03308d963e1</LastMemVer>
            <CurMemVer>71217227bbd112ecfe3a49c482195cb4</CurMemVer>
            """));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_chat/update"));
        var updated = (ExternalChatUpdated)parsed.Event;
        Assert.Multiple(() =>
        {
            Assert.That(updated.CreateTime, Is.EqualTo(At));
            Assert.That(updated.ChatId, Is.EqualTo("CHAT_ID"));
            Assert.That(updated.UpdateDetail, Is.EqualTo(ChatUpdateDetail.AddMember));
            Assert.That(updated.JoinScene, Is.EqualTo(1));
            Assert.That(updated.QuitScene, Is.EqualTo(0));
            Assert.That(updated.MemChangeCnt, Is.EqualTo(10));
            Assert.That(updated.MemChangeList, Is.EqualTo(new[] { "Jack", "wmRose" }));
            Assert.That(updated.LastMemVer, Is.EqualTo("9c3f97c2ada667dfb5f6d03308d963e1"));
            Assert.That(updated.CurMemVer, Is.EqualTo("71217227bbd112ecfe3a49c482195cb4"));
        });
    }

    [TestCase("<MemChangeList><![CDATA[wmA, wmB]]></MemChangeList>", new[] { "wmA", "wmB" })]
    [TestCase("<MemChangeList></MemChangeList>", new string[0])]
    [TestCase("<MemChangeList/>", new string[0])]
    [TestCase("", new string[0])]
    public void Chat_update_member_lists_parse_in_every_shape_seen(string list, string[] expected)
    {
        var parsed = CallbackParser.Parse(Event(
            "<Event>change_external_chat</Event><ChatId>C</ChatId><ChangeType>update</ChangeType><UpdateDetail>del_member</UpdateDetail><QuitScene>1</QuitScene>" + list));
        var updated = (ExternalChatUpdated)parsed.Event;
        Assert.That(updated.MemChangeList, Is.EqualTo(expected));
        Assert.That(updated.JoinScene, Is.Null);
        Assert.That(updated.MemChangeCnt, Is.Null);
    }

    [Test]
    public void Tag_change_parses()
    {
        var parsed = CallbackParser.Parse(Event(
            "<Event><![CDATA[change_external_tag]]></Event><Id><![CDATA[TAG_ID]]></Id><TagType><![CDATA[tag]]></TagType><ChangeType><![CDATA[create]]></ChangeType><StrategyId>1</StrategyId>"));
        Assert.That(parsed.Kind, Is.EqualTo("change_external_tag/create"));
        Assert.That(parsed.Event, Is.EqualTo(new ExternalTagChanged(At, "TAG_ID", "tag", "create", "1")));
    }

    [Test]
    public void Tag_shuffle_without_tag_type_parses()
    {
        var parsed = CallbackParser.Parse(Event("<Event>change_external_tag</Event><Id></Id><ChangeType>shuffle</ChangeType>"));
        Assert.That(parsed.Event, Is.EqualTo(new ExternalTagChanged(At, "", null, "shuffle", null)));
    }

    [Test]
    public void App_text_message_parses_and_is_keyed_on_its_msg_id()
    {
        const string official = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";
        var parsed = CallbackParser.Parse(official);
        Assert.That(parsed.Kind, Is.EqualTo("text"));
        Assert.That(parsed.DedupeKey, Is.EqualTo("msg:4561255354251345929"));
        Assert.That(parsed.Event, Is.EqualTo(new AppTextMessage(DateTimeOffset.FromUnixTimeSeconds(1409659813), "mycreate", "hello", "4561255354251345929", "218")));
    }

    [Test]
    public void Text_content_keeps_escaped_characters_and_surrounding_spaces()
    {
        var parsed = CallbackParser.Parse(
            "<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content> a &amp; b &lt;c&gt; </Content><MsgId>9</MsgId><AgentID>1</AgentID></xml>");
        Assert.That(((AppTextMessage)parsed.Event).Content, Is.EqualTo(" a & b <c> "));
    }

    [Test]
    public void Two_customers_added_in_the_same_second_get_different_dedupe_keys()
    {
        var first = CallbackParser.Parse(ContactAdded("wmCustomerA"));
        var second = CallbackParser.Parse(ContactAdded("wmCustomerB"));
        Assert.That(first.DedupeKey, Does.StartWith("evt:"));
        Assert.That(first.DedupeKey, Is.Not.EqualTo(second.DedupeKey));
    }

    [Test]
    public void The_same_plaintext_gets_the_same_dedupe_key()
    {
        var plaintext = ContactAdded("wmCustomerA");
        var key = CallbackParser.Parse(plaintext).DedupeKey;
        Assert.That(CallbackParser.Parse(new string(plaintext.AsSpan())).DedupeKey, Is.EqualTo(key));
        Assert.That(key, Does.Match("^evt:[0-9a-f]{64}$"));
    }

    [Test]
    public void An_unknown_event_parses_to_unknown_callback()
    {
        var parsed = CallbackParser.Parse(Event("<Event><![CDATA[msgaudit_notify]]></Event><AgentID>1</AgentID>"));
        Assert.That(parsed.Kind, Is.EqualTo("unknown/msgaudit_notify"));
        Assert.That(parsed.Event, Is.EqualTo(new UnknownCallback(At, "event", "msgaudit_notify", null)));
        Assert.That(parsed.DedupeKey, Does.StartWith("evt:"));
    }

    [Test]
    public void An_unknown_change_type_of_a_known_event_parses_to_unknown_callback()
    {
        var parsed = CallbackParser.Parse(ContactEvent("msg_audit_approved", "<UserID>u</UserID><ExternalUserID>wm</ExternalUserID>"));
        Assert.That(parsed.Kind, Is.EqualTo("unknown/change_external_contact/msg_audit_approved"));
        Assert.That(parsed.Event, Is.EqualTo(new UnknownCallback(At, "event", "change_external_contact", "msg_audit_approved")));
    }

    [Test]
    public void An_unknown_message_type_parses_to_unknown_callback_keyed_on_its_msg_id()
    {
        var parsed = CallbackParser.Parse(
            "<xml><FromUserName>u</FromUserName><CreateTime>1403610513</CreateTime><MsgType>image</MsgType><PicUrl>x</PicUrl><MsgId>77</MsgId></xml>");
        Assert.That(parsed.Kind, Is.EqualTo("unknown/image"));
        Assert.That(parsed.DedupeKey, Is.EqualTo("msg:77"));
        Assert.That(parsed.Event, Is.EqualTo(new UnknownCallback(At, "image", null, null)));
    }

    [TestCase("<xml><MsgType>text</MsgType>", TestName = "Unclosed_xml_throws_a_format_exception")]
    [TestCase("", TestName = "Empty_text_throws_a_format_exception")]
    [TestCase("<xml><CreateTime>1</CreateTime></xml>", TestName = "Xml_without_MsgType_throws_a_format_exception")]
    [TestCase("<xml><MsgType>event</MsgType></xml>", TestName = "Xml_without_CreateTime_throws_a_format_exception")]
    [TestCase("<xml><MsgType>event</MsgType><CreateTime>1</CreateTime><Event>change_external_contact</Event><ChangeType>add_external_contact</ChangeType><UserID>u</UserID></xml>",
        TestName = "A_contact_event_without_ExternalUserID_throws_a_format_exception")]
    public void Malformed_callbacks_throw_a_format_exception(string xml)
    {
        var ex = Assert.Throws<CallbackFormatException>(() => CallbackParser.Parse(xml));
        Assert.That(ex!.DtdFound, Is.False);
    }

    [Test]
    public void A_doctype_throws_a_format_exception_that_names_it()
    {
        var ex = Assert.Throws<CallbackFormatException>(() => CallbackParser.Parse(
            "<!DOCTYPE xml [<!ENTITY e \"x\">]><xml><MsgType>&e;</MsgType><CreateTime>1</CreateTime></xml>"));
        Assert.That(ex!.DtdFound, Is.True);
    }

    private static readonly DateTimeOffset RobotAt = DateTimeOffset.FromUnixTimeSeconds(1700000000);

    [Test]
    public void A_robot_group_text_message_parses()
    {
        const string json = """
            {"msgid":"CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=","aibotid":"AIBOTID","chatid":"CHATID","chattype":"group",
             "from":{"userid":"USERID"},"response_url":"RESPONSEURL","msgtype":"text","text":{"content":"@RobotA hello robot"},
             "quote":{"msgtype":"text","text":{"content":"quoted"}}}
            """;
        var parsed = RobotCallbackParser.Parse(json, RobotAt);
        Assert.That(parsed.Kind, Is.EqualTo("robot/text"));
        Assert.That(parsed.DedupeKey, Is.EqualTo("robot:CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI="));
        Assert.That(parsed.Event, Is.EqualTo(new RobotMessage(
            RobotAt, "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=", "AIBOTID", "CHATID", "group", "USERID", "RESPONSEURL", "text", "@RobotA hello robot")));
    }

    [Test]
    public void A_robot_single_chat_image_parses_without_text_or_chat()
    {
        const string json = """{"msgid":"m2","aibotid":"B","chattype":"single","from":{"userid":"U"},"msgtype":"image","image":{"url":"https://x"}}""";
        var parsed = RobotCallbackParser.Parse(json, RobotAt);
        Assert.That(parsed.Kind, Is.EqualTo("robot/image"));
        Assert.That(parsed.Event, Is.EqualTo(new RobotMessage(RobotAt, "m2", "B", null, "single", "U", null, "image", null)));
    }

    [Test]
    public void A_robot_mixed_message_exposes_its_text_items()
    {
        const string json = """{"msgid":"m3","aibotid":"B","chattype":"group","chatid":"C","from":{"userid":"U"},"msgtype":"mixed","mixed":{"msg_item":[{"msgtype":"text","text":{"content":"@RobotA "}},{"msgtype":"image","image":{"url":"u"}},{"msgtype":"text","text":{"content":"抽奖"}}]}}""";
        Assert.That(((RobotMessage)RobotCallbackParser.Parse(json, RobotAt).Event).Text, Is.EqualTo("@RobotA 抽奖"));
    }

    [TestCase("""{"aibotid":"B","from":{"userid":"U"},"msgtype":"text"}""", TestName = "A_robot_message_without_msgid_throws")]
    [TestCase("""{"msgid":"m","aibotid":"B","msgtype":"text"}""", TestName = "A_robot_message_without_sender_throws")]
    [TestCase("""{"msgid":"m","aibotid":"B","from":{"userid":"U"}}""", TestName = "A_robot_message_without_msgtype_throws")]
    [TestCase("""[1,2]""", TestName = "A_robot_message_that_is_not_an_object_throws")]
    [TestCase("""{"msgid":""", TestName = "A_robot_message_that_is_not_json_throws")]
    public void Malformed_robot_messages_throw_a_format_exception(string json)
    {
        Assert.Throws<CallbackFormatException>(() => RobotCallbackParser.Parse(json, RobotAt));
    }

    [Test]
    public void An_app_text_becomes_an_inbound_message_from_staff()
    {
        var inbound = InboundMessage.From(new AppTextMessage(At, "zhangsan", "抽奖", "42", "1000002"));
        Assert.That(inbound, Is.EqualTo(new InboundMessage(InboundSource.App, "zhangsan", null, false, "抽奖", "42", null)));
    }

    [TestCase("@RobotA 抽奖", "抽奖")]
    [TestCase("@RobotA\u2005抽奖 ", "抽奖")]
    [TestCase("  抽奖", "抽奖")]
    [TestCase("@RobotA", "@RobotA")]
    public void A_robot_group_message_becomes_an_inbound_message_without_the_mention(string text, string expected)
    {
        var inbound = InboundMessage.From(new RobotMessage(At, "m", "B", "C", "group", "wmU", "https://r", "text", text));
        Assert.That(inbound, Is.EqualTo(new InboundMessage(InboundSource.Robot, "wmU", "C", true, expected, "m", "https://r")));
    }

    [Test]
    public void A_robot_single_chat_message_becomes_a_one_to_one_inbound_message()
    {
        var inbound = InboundMessage.From(new RobotMessage(At, "m", "B", null, "single", "wmU", null, "text", "@not-a-mention hi"));
        Assert.That(inbound, Is.EqualTo(new InboundMessage(InboundSource.Robot, "wmU", null, false, "@not-a-mention hi", "m", null)));
    }

    [Test]
    public void Events_and_robot_messages_without_text_are_not_inbound_messages()
    {
        Assert.That(InboundMessage.From(new ExternalChatCreated(At, "C")), Is.Null);
        Assert.That(InboundMessage.From(new RobotMessage(At, "m", "B", null, "single", "U", null, "image", null)), Is.Null);
    }
}
